// Registers the secrets a test uses (tokens, webhook secrets, private keys) so that
// scripts/scan-secrets, run by scripts/test over the whole suite's logs, fails when one of them
// appears in a log. The shell tests' counterpart is register_secret in tests/cli/testlib.sh.
//
// Registration appends "LABEL<TAB>VALUE" lines to the file named by $JOBSYNC_TEST_SECRETS and
// does nothing when it is unset. Appends are single small writes, so tests running in parallel
// may share the file. Header-only so that every test executable can use it without a library.
#ifndef JOBSYNC_TESTS_TEST_SECRETS_H_
#define JOBSYNC_TESTS_TEST_SECRETS_H_

#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace jobsync::testing {

// Shortest secret the scanner accepts: shorter ones would match ordinary text.
inline constexpr std::size_t kMinTestSecretLength = 8;

// Registers `value` under `label` (the scanner reports the label, never the value). Fails the
// test when `value` is too short or holds a tab or a line break.
inline void RegisterTestSecret(std::string_view label, std::string_view value) {
  if (value.size() < kMinTestSecretLength ||
      value.find_first_of("\t\r\n") != std::string_view::npos) {
    ADD_FAILURE() << "test secret '" << label << "' must be at least " << kMinTestSecretLength
                  << " characters, on one line";
    return;
  }
  const char* file = std::getenv("JOBSYNC_TEST_SECRETS");
  if (file == nullptr || *file == '\0') return;
  std::string line;
  line.append(label).append("\t").append(value).append("\n");
  std::ofstream out(file, std::ios::app | std::ios::binary);
  out << line << std::flush;
  if (!out) ADD_FAILURE() << "cannot append to $JOBSYNC_TEST_SECRETS (" << file << ")";
}

// Registers every base64 body line of the PEM private key in `pem_file` (a key the test made),
// labelled "<label> line <n>". Lines too short to search for (the last one may be) are skipped.
inline void RegisterTestPrivateKey(std::string_view label, const std::string& pem_file) {
  std::ifstream in(pem_file);
  if (!in) {
    ADD_FAILURE() << "cannot read private key " << pem_file;
    return;
  }
  std::string line;
  bool inside = false;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("-----BEGIN ", 0) == 0) {
      inside = line.find("PRIVATE KEY") != std::string::npos;
    } else if (line.rfind("-----END ", 0) == 0) {
      inside = false;
    } else if (inside && line.size() >= kMinTestSecretLength &&
               line.find(':') == std::string::npos) {
      RegisterTestSecret(std::string(label) + " line " + std::to_string(number), line);
    }
  }
}

}  // namespace jobsync::testing

#endif  // JOBSYNC_TESTS_TEST_SECRETS_H_
