// Fuzz target: the bytes of one manifest file through the whole loader (schemas/loader.h), as
// `jobsync validate` and the Git source load it: the bounded YAML reader, the JSON form, schema
// validation, the typed model, the per-job and the cross-file checks.
//
// Each input is loaded twice: with the default YamlLimits, and with limits small enough to trip
// anywhere in a file. Problems in the input are expected and reported as diagnostics. Whatever the
// bytes, this must hold, and a violation aborts (a finding):
//   - nothing crashes, throws, trips a sanitizer, or outgrows libFuzzer's -rss_limit_mb;
//   - LoadResult is shaped as loader.h says: jobs ordered by key with no key twice, invalid_jobs
//     ordered and unique, no key both valid and invalid, an unreadable file has a diagnostic,
//     and ok() (no diagnostics) means no invalid job and no unreadable file;
//   - every valid job survives the trip a backend makes it take (canonical.h): stored as
//     CanonicalSpecText, read back with TrainingJobFromCanonicalText, it has the same canonical
//     JSON and the same SpecHash. A job failing this would be recreated on every sync.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "schemas/canonical.h"
#include "schemas/loader.h"
#include "schemas/schema_validator.h"

namespace jobsync {
namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckShape(const LoadResult& result) {
  for (size_t i = 1; i < result.jobs.size(); ++i) {
    Check(result.jobs[i - 1]->key() < result.jobs[i]->key());
  }
  for (size_t i = 1; i < result.invalid_jobs.size(); ++i) {
    Check(result.invalid_jobs[i - 1] < result.invalid_jobs[i]);
  }
  const std::set<JobKey> invalid(result.invalid_jobs.begin(), result.invalid_jobs.end());
  for (const auto& job : result.jobs) Check(invalid.count(job->key()) == 0);
  if (!result.unreadable_files.empty()) Check(!result.diagnostics.empty());
  if (result.ok()) Check(result.invalid_jobs.empty() && result.unreadable_files.empty());
}

void CheckRoundTrip(const TrainingJob& job) {
  StatusOr<TrainingJob> read_back = TrainingJobFromCanonicalText(CanonicalSpecText(job));
  Check(read_back.ok());
  Check(CanonicalSpec(*read_back) == CanonicalSpec(job));
  Check(SpecHash(*read_back) == SpecHash(job));
}

}  // namespace
}  // namespace jobsync

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const jobsync::SchemaValidator validator;
  // Limits small enough to be hit at any point of the grammar, where the reader stops yaml-cpp
  // from inside its event handler.
  static constexpr jobsync::YamlLimits kTight{4096, 6, 200};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const jobsync::YamlLimits& limits : {jobsync::YamlLimits{}, kTight}) {
    std::vector<jobsync::ManifestFile> files;
    files.push_back(jobsync::ParseManifestFile("jobs/fuzz.yaml", text, validator, {limits}));
    const jobsync::LoadResult result = jobsync::CheckManifests(files);
    jobsync::CheckShape(result);
    for (const auto& job : result.jobs) jobsync::CheckRoundTrip(*job);
  }
  return 0;
}
