// A main() for the fuzz targets when there is no libFuzzer (gcc builds): runs the target's
// LLVMFuzzerTestOneInput once on every file of the directories named on the command line (their
// regular files, recursively, in name order; README files are skipped), so that the corpus and
// the regressions run as an ordinary test, also under the sanitizers.
//
// Usage: <target> DIR...   Exits 0 after running every input; 2 when a directory does not exist
// or there is no input at all, so that a misconfigured test cannot pass by running nothing. A
// target that finds a problem aborts, which fails the test.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// The inputs under `dir`, in name order; false when `dir` is not a readable directory.
bool ListInputs(const fs::path& dir, std::vector<fs::path>* inputs) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) return false;
  std::vector<fs::path> found;
  for (fs::recursive_directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (it->is_regular_file() && name.rfind("README", 0) != 0) found.push_back(it->path());
  }
  if (error) return false;
  std::sort(found.begin(), found.end());
  inputs->insert(inputs->end(), found.begin(), found.end());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (!ListInputs(argv[i], &inputs)) {
      std::fprintf(stderr, "replay: %s is not a readable directory\n", argv[i]);
      return 2;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs (usage: %s DIR...)\n", argc > 0 ? argv[0] : "replay");
    return 2;
  }
  for (const fs::path& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
      return 2;
    }
    // Printed before the run, so that the input that aborted is the last one named.
    std::fprintf(stderr, "replay: %s\n", path.c_str());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::fprintf(stderr, "replay: %zu inputs, no problem found\n", inputs.size());
  return 0;
}
