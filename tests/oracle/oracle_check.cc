// The jobsync side of the differential test against Kubernetes' own code (README.md here): reads
// the oracle's answers (main.go) and checks, case by case, what jobsync says:
//   Q: Quantity::Parse, and `validate` (the loader on a manifest holding the quantity), accept
//      exactly what the apiserver accepts, minus the documented sure mistakes; an accepted
//      quantity has Kubernetes' exact value;
//   P: two quantities are equal for jobsync (Quantity ==, SpecHash, and the planner: none or
//      update) exactly when Kubernetes' Cmp says 0;
//   N: the naming rule functions, and `validate` on a manifest using the name as a label key or
//      value, annotation key, namespace or job name, agree with apimachinery's validation.
// Prints every disagreement (the first 100 in full) and exits 1 when there is any.
//
// Usage: jobsync_oracle_check ORACLE_OUTPUT
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diff/diff.h"
#include "domain/live_job.h"
#include "schemas/canonical.h"
#include "schemas/k8s_names.h"
#include "schemas/loader.h"
#include "schemas/schema_validator.h"

namespace jobsync {
namespace {

std::string Json(const std::string& text) { return nlohmann::json(text).dump(); }

class Checker {
 public:
  void Disagree(const std::string& what) {
    if (++disagreements_ <= 100) std::cout << "DISAGREE " << what << "\n";
  }
  int disagreements() const { return disagreements_; }

  // Whether `validate` accepts a manifest made by `manifest`.
  bool Validates(const std::string& manifest) {
    std::vector<ManifestFile> files;
    files.push_back(ParseManifestFile("oracle.yaml", manifest, validator_));
    return CheckManifests(files).ok();
  }

  static std::string K8sJob(const std::string& metadata, const std::string& resources) {
    return "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata:\n" + metadata +
           "spec:\n  backend: kubernetes\n  image: trainer:v1\n  roles:\n    worker:\n"
           "      replicas: 1\n" +
           resources;
  }

  void Quantity(const std::string& text, const std::string& verdict, const std::string& value) {
    StatusOr<jobsync::Quantity> parsed = Quantity::Parse(text);
    const bool want = verdict == "ok";
    const std::string label = "quantity " + Json(text) + " (Kubernetes: " + verdict + ")";
    if (parsed.ok() != want) {
      Disagree(label + ": jobsync " +
               (parsed.ok() ? "accepts it" : "refuses it: " + parsed.status().message()));
    }
    if (Validates(K8sJob("  name: q\n", "      resources: {cpu: " + Json(text) + "}\n")) != want) {
      Disagree(label + ": validate " + (want ? "refuses" : "accepts") + " it");
    }
    if (!want || !parsed.ok()) return;
    StatusOr<jobsync::Quantity> expected = Quantity::Parse(value);
    if (!expected.ok() || !(*expected == *parsed)) {
      Disagree(label + ": Kubernetes' value is " + value + ", jobsync's " + parsed->ExactText());
    }
  }

  void Pair(const std::string& a, const std::string& b, int cmp) {
    StatusOr<jobsync::Quantity> qa = Quantity::Parse(a);
    StatusOr<jobsync::Quantity> qb = Quantity::Parse(b);
    const std::string label =
        "pair " + Json(a) + " " + Json(b) + " (Kubernetes Cmp " + std::to_string(cmp) + ")";
    if (!qa.ok() || !qb.ok()) {
      Disagree(label + ": jobsync refuses one of them");
      return;
    }
    const bool equal = cmp == 0;
    if ((*qa == *qb) != equal) Disagree(label + ": Quantity == says " + (equal ? "no" : "yes"));
    TrainingJob job_a = Job(*qa);
    TrainingJob job_b = Job(*qb);
    if ((SpecHash(job_a) == SpecHash(job_b)) != equal) {
      Disagree(label + ": spec hashes " + (equal ? "differ" : "are equal"));
    }
    // The planner: Git has `a`, the cluster runs `b` as the backend reads it back.
    const Action action = Plan(job_a, job_b);
    if (action != (equal ? Action::kNone : Action::kUpdate)) {
      Disagree(label + ": the planner says " + ActionName(action));
    }
  }

  void Name(const std::string& rule, const std::string& text, bool want) {
    static const std::map<std::string, std::function<std::string(std::string_view)>> kRules = {
        {"label-value", CheckLabelValue},
        {"label-key", CheckQualifiedName},
        {"annotation-key", CheckAnnotationKey},
        {"dns1123-label", CheckDns1123Label},
        {"dns1123-subdomain", CheckDns1123Subdomain},
        {"dns1035-label", CheckDns1035Label}};
    const std::string label =
        rule + " " + Json(text) + " (Kubernetes: " + (want ? "valid" : "invalid") + ")";
    auto it = kRules.find(rule);
    if (it == kRules.end()) {
      Disagree("unknown rule " + rule);
      return;
    }
    if (it->second(text).empty() != want) Disagree(label + ": jobsync's rule says otherwise");
    std::string manifest;
    if (rule == "label-value") {
      manifest = K8sJob("  name: n\n  labels: {k: " + Json(text) + "}\n", "");
    } else if (rule == "label-key") {
      manifest = K8sJob("  name: n\n  labels: {" + Json(text) + ": v}\n", "");
    } else if (rule == "annotation-key") {
      manifest = K8sJob("  name: n\n  annotations: {" + Json(text) + ": v}\n", "");
    } else if (rule == "dns1123-label") {
      manifest = K8sJob("  name: n\n  namespace: " + Json(text) + "\n", "");
    } else if (rule == "dns1035-label") {
      // A Ray job: a Kubernetes job's name is also bounded by its pods' hostnames.
      manifest =
          "apiVersion: jobsync.dev/v1alpha1\nkind: TrainingJob\nmetadata:\n  name: " + Json(text) +
          "\nspec:\n  backend: ray\n  roles: {worker: {replicas: 1}}\n" +
          "  ray: {entrypoint: python train.py}\n";
    } else {
      return;
    }
    if (Validates(manifest) != want) {
      Disagree(label + ": validate " + (want ? "refuses" : "accepts") + " it");
    }
  }

 private:
  static TrainingJob Job(const jobsync::Quantity& cpu) {
    TrainingJob job;
    job.name = "q";
    job.image = "trainer:v1";
    job.roles["worker"].resources.cpu = cpu;
    return job;
  }

  static Action Plan(const TrainingJob& desired, const TrainingJob& applied) {
    LoadResult result;
    result.jobs.push_back(std::make_shared<const TrainingJob>(desired));
    LiveJob live;
    live.key = applied.key();
    StatusOr<TrainingJob> read_back = TrainingJobFromCanonicalText(CanonicalSpecText(applied));
    if (!read_back.ok()) return Action::kCreate;
    live.applied = std::make_shared<const TrainingJob>(std::move(*read_back));
    live.replicas["worker"] = 1;
    live.phase = LivePhase::kRunning;
    live.instance = "oracle";
    StatusOr<std::vector<PlanStep>> steps = DiffJobs(result, {live}, "oracle");
    if (!steps.ok() || steps->size() != 1) return Action::kCreate;
    return (*steps)[0].action;
  }

  SchemaValidator validator_;
  int disagreements_ = 0;
};

std::vector<std::string> Split(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, '\t')) fields.push_back(field);
  return fields;
}

std::string Text(const std::string& quoted) {
  nlohmann::json parsed = nlohmann::json::parse(quoted, nullptr, /*allow_exceptions=*/false);
  return parsed.is_string() ? parsed.get<std::string>() : quoted;
}

}  // namespace
}  // namespace jobsync

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: jobsync_oracle_check ORACLE_OUTPUT\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "jobsync_oracle_check: cannot read " << argv[1] << "\n";
    return 2;
  }
  jobsync::Checker checker;
  std::map<std::string, int> counts;
  std::string line;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = jobsync::Split(line);
    if (f.size() == 4 && f[0] == "Q") {
      checker.Quantity(jobsync::Text(f[1]), f[2], f[3]);
    } else if (f.size() == 4 && f[0] == "P") {
      checker.Pair(jobsync::Text(f[1]), jobsync::Text(f[2]), std::stoi(f[3]));
    } else if (f.size() == 4 && f[0] == "N") {
      checker.Name(f[1], jobsync::Text(f[2]), f[3] == "1");
    } else {
      std::cerr << "jobsync_oracle_check: unreadable line: " << line << "\n";
      return 2;
    }
    ++counts[f[0]];
  }
  std::cout << counts["Q"] << " quantities, " << counts["P"] << " pairs, " << counts["N"]
            << " name checks; " << checker.disagreements() << " disagreements with Kubernetes\n";
  if (counts["Q"] == 0 || counts["P"] == 0 || counts["N"] == 0) {
    std::cout << "the oracle printed no cases of some kind: its output is incomplete\n";
    return 1;
  }
  return checker.disagreements() == 0 ? 0 : 1;
}
