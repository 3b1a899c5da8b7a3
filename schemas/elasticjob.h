// DLRover's ElasticJob (apiVersion elastic.iml.github.io/v1alpha1, kind ElasticJob) read as the
// TrainingJob it stands for, so that a team's existing ElasticJob files load, plan and run
// unchanged wherever a TrainingJob may stand. Part of the loader.
//
// The translation is a document-to-document one: it builds the TrainingJob document (the YAML
// tree `jobsync convert` prints) whose every node carries the position of the ElasticJob text it
// comes from, and the loader then reads that document exactly as it reads a TrainingJob. So an
// ElasticJob and the TrainingJob `jobsync convert` prints for it load to the same model, the same
// canonical spec and the same spec hash, and every later check is located in the ElasticJob file.
//
// What maps where (docs/elasticjob.md has the full table, with DLRover's Go field names):
//   metadata.name, namespace, labels, annotations -> the same; spec.suspend -> spec.suspend;
//   spec.envs (name -> EnvVar) -> spec.env; spec.replicaSpecs.<role> -> spec.roles.<role>
//   (replicas; restartCount -> spec.failurePolicy.maxRestarts, the largest of the roles');
//   each role's pod template: the main container (named "main", else the only one) gives image,
//   command, args, env, envFrom, resources (limits, else requests) and volumeMounts with the
//   pod's volumes; the pod gives nodeSelector, tolerations (per role) and affinity,
//   priorityClassName, schedulerName, serviceAccountName, imagePullSecrets (per job: roles must
//   agree). A value every role has alike is written once at spec level, the rest per role.
//   `--nnodes=MIN:MAX` or `--nnodes=MIN:$NODE_NUM` in the main container's command or args
//   gives the role's elastic bounds (minReplicas, and maxReplicas unless it is $NODE_NUM: then
//   the bound is replicas, as DLRover's NODE_NUM is). Each role's container gets NODE_NUM and
//   WORKER_NUM set to its replica count, as DLRover's master sets them, by reference to
//   jobsync's JOBSYNC_REPLICAS_<ROLE> so that a replica change stays a scale in place.
// Every ElasticJob field jobsync does not honour is a warning at its position, never dropped
// silently; what jobsync needs and cannot read is an error.
//
// Pure functions, thread-safe.
#ifndef JOBSYNC_SCHEMAS_ELASTICJOB_H_
#define JOBSYNC_SCHEMAS_ELASTICJOB_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "schemas/diagnostic.h"
#include "schemas/yaml_reader.h"

namespace jobsync {

inline constexpr const char* kElasticJobApiVersion = "elastic.iml.github.io/v1alpha1";
inline constexpr const char* kElasticJobKind = "ElasticJob";

// True when `root` is a mapping whose kind is ElasticJob (whatever its apiVersion: a wrong one
// is TranslateElasticJob's error).
bool IsElasticJobDocument(const YamlNode& root);

// The outcome of reading one ElasticJob document.
struct ElasticJobTranslation {
  // The TrainingJob document, positioned at the ElasticJob's text; null when `errors` stopped the
  // translation. It still has to pass the TrainingJob schema and checks.
  YamlNodePtr training_job;
  std::vector<Diagnostic> errors;    // what jobsync needs and cannot read, located
  std::vector<Diagnostic> warnings;  // fields jobsync does not honour, located, sorted
};

// Translates the ElasticJob document `root` of the file `path`. Never throws.
ElasticJobTranslation TranslateElasticJob(const YamlNode& root, const std::string& path);

// How an ElasticJob runs: translated into jobsync's own model and run like a TrainingJob
// (native), or applied as the ElasticJob itself for DLRover's operator to run (operator). Chosen
// per instance (--elasticjob) and per manifest by the annotation kElasticJobModeAnnotation.
enum class ElasticJobMode { kNative, kOperator };
inline constexpr const char* kElasticJobModeAnnotation = "jobsync.dev/elasticjob-mode";

// "native" or "operator".
const char* ElasticJobModeName(ElasticJobMode mode);
// kNative for "native", kOperator for "operator", nullopt for anything else.
std::optional<ElasticJobMode> ParseElasticJobMode(std::string_view text);

// For the loader: what to read for one document.
struct DocumentToRead {
  // The document itself, or for an ElasticJob the TrainingJob it translates to. Never null.
  YamlNodePtr root;
  // An ElasticJob in operator mode: its spec for TrainingJob::elastic_job_spec (without each
  // role's `replicas` and without `suspend`); null otherwise.
  nlohmann::json operator_spec;
};

// For the loader: what to read for `document` of the file `path`, an ElasticJob running in its
// annotation's mode, else in `default_mode`. The translation's errors (and a mode annotation
// that names no mode) are appended to `errors`; its warnings, in native mode only (in operator
// mode DLRover's operator honours those fields), to `warnings`, as is a mode annotation on a
// document that is not an ElasticJob.
DocumentToRead DocumentToLoad(const YamlNodePtr& document, const std::string& path,
                              ElasticJobMode default_mode, std::vector<Diagnostic>* errors,
                              std::vector<Diagnostic>* warnings);

// For the loader: `problems` found in an ElasticJob's TrainingJob document say so in their hint
// (the field they name is the TrainingJob's), and the translation's `errors` come first.
void AddElasticJobProblems(const std::vector<Diagnostic>& errors,
                           std::vector<Diagnostic>* problems);

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_ELASTICJOB_H_
