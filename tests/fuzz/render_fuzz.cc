// Fuzz target: the bytes of one manifest file through what `jobsync render` does with it: the
// loader (schemas/loader.h), then for every valid Kubernetes job the objects jobsync would apply
// (backends/kubernetes/mapping.h), written as YAML (JsonToYaml) and read back.
//
// Problems in the input are expected and reported as diagnostics. Whatever the bytes, this must
// hold, and a violation aborts (a finding):
//   - nothing crashes, throws, exhausts the stack (a recursion whose depth follows the input's
//     size, as std::regex's did on long strings), trips a sanitizer or outgrows -rss_limit_mb;
//   - every valid job renders (RenderObjects succeeds);
//   - what `validate` accepts, the apiserver accepts as far as names go: object names are
//     DNS-1123 subdomains, label keys qualified names, label values valid, annotation keys
//     qualified names, and every object's annotations within Kubernetes' 256 KiB;
//   - the YAML written reads back as the same JSON (yaml_json.h's contract).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/kubernetes/mapping.h"
#include "schemas/k8s_names.h"
#include "schemas/loader.h"
#include "schemas/schema_validator.h"
#include "schemas/yaml_json.h"

namespace jobsync {
namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckMetadata(const nlohmann::json& object) {
  const nlohmann::json& metadata = object.at("metadata");
  Check(CheckDns1123Subdomain(metadata.at("name").get<std::string>()).empty());
  if (metadata.contains("labels")) {
    for (const auto& [key, value] : metadata["labels"].items()) {
      Check(CheckQualifiedName(key).empty());
      Check(CheckLabelValue(value.get<std::string>()).empty());
    }
  }
  if (metadata.contains("annotations")) {
    std::map<std::string, std::string> annotations;
    for (const auto& [key, value] : metadata["annotations"].items()) {
      Check(CheckAnnotationKey(key).empty());
      annotations[key] = value.get<std::string>();
    }
    Check(AnnotationBytes(annotations) <= kMaxAnnotationBytes);
  }
}

void CheckYamlRoundTrip(const nlohmann::json& object) {
  const std::string text = JsonToYaml(object);
  YamlFile read = ReadYaml(text, YamlLimits{8u << 20, 64, 1000000});
  Check(!read.error && read.documents.size() == 1);
  Check(YamlToJson(*read.documents[0]) == object);
}

}  // namespace
}  // namespace jobsync

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const jobsync::SchemaValidator validator;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<jobsync::ManifestFile> files;
  files.push_back(jobsync::ParseManifestFile("jobs/fuzz.yaml", text, validator));
  const jobsync::LoadResult result = jobsync::CheckManifests(files);
  const jobsync::ApplyContext context{"fuzz", std::string(40, 'f')};
  for (const auto& job : result.jobs) {
    if (job->backend != jobsync::BackendKind::kKubernetes) continue;
    jobsync::StatusOr<std::vector<nlohmann::json>> objects = jobsync::RenderObjects(*job, context);
    jobsync::Check(objects.ok());
    for (const nlohmann::json& object : *objects) {
      jobsync::CheckMetadata(object);
      jobsync::CheckYamlRoundTrip(object);
    }
  }
  return 0;
}
