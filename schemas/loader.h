// Turns manifest files into validated TrainingJob values and a complete list of problems.
// DLRover ElasticJob documents stand wherever a TrainingJob may, read as the TrainingJob they
// translate to (schemas/elasticjob.h), with a warning for each field jobsync does not honour.
//
// Loading runs in two stages so that a Git source can cache the first by blob id:
//   1. ParseManifestFile: one file's text -> YAML (bounded) -> schema check -> typed jobs, plus
//      the checks that need only that job (names short enough, replica bounds, backend needs).
//   2. CheckManifests: the checks across files (a job defined twice, dependsOn names that exist
//      and form no cycle), and the final split into valid jobs and invalid ones.
// A job with any problem is never in LoadResult::jobs; its key, when it could be read, is in
// invalid_jobs so that a planner never mistakes a broken manifest for a deleted job.
#ifndef JOBSYNC_SCHEMAS_LOADER_H_
#define JOBSYNC_SCHEMAS_LOADER_H_

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "schemas/diagnostic.h"
#include "schemas/elasticjob.h"
#include "schemas/model.h"
#include "schemas/object_names.h"
#include "schemas/schema_validator.h"
#include "schemas/yaml_reader.h"

namespace jobsync {

// A job that passed the per-file checks, with the positions the cross-file checks report. The job
// is made once, by ParseManifestFile, and is immutable from then on: a parse cache, LoadResult and
// plan steps share it instead of copying it.
struct ParsedJob {
  std::shared_ptr<const TrainingJob> job;            // never null
  SourceLocation name_location;                      // metadata.name
  std::vector<SourceLocation> depends_on_locations;  // one per spec.dependsOn entry
  // GeneratedObjects(*job), made once with the job: every load checks them across all jobs.
  std::vector<GeneratedObject> objects;
};

// A document that failed; its key when metadata and backend could still be read.
struct InvalidManifest {
  std::optional<JobKey> key;
  SourceLocation location;  // metadata.name when present, else the document's start
};

// Everything learnt from one file. `unreadable` means the file could not be read to its end
// (YAML syntax, limits, binary data): it may hold jobs nobody can see.
struct ManifestFile {
  std::string path;
  std::vector<ParsedJob> jobs;
  std::vector<InvalidManifest> invalid;
  std::vector<Diagnostic> diagnostics;
  std::vector<Diagnostic> warnings;  // fields that load but are not honoured (ElasticJob's)
  bool unreadable = false;
};

// How files are read: the YAML reader's bounds, and how an ElasticJob without the
// jobsync.dev/elasticjob-mode annotation runs (--elasticjob).
struct LoadOptions {
  YamlLimits limits;
  ElasticJobMode elasticjob = ElasticJobMode::kNative;
  // The agent's clusters (its clusters file, --clusters), when known: spec.cluster must name one
  // of them (else a located error), and the default one's name reads as no name (JobKey::cluster
  // empty). Nullopt: spec.cluster is taken as written (validate, render, the offline plan).
  std::optional<ClusterNames> clusters = std::nullopt;
};

// Parses one file's text, located as `path` in messages. Never throws.
ManifestFile ParseManifestFile(const std::string& path, std::string_view text,
                               const SchemaValidator& validator, const LoadOptions& options = {});

// The outcome of loading a set of manifests.
struct LoadResult {
  // Valid jobs, ordered by key; never null. Shared and immutable: the same objects the parsed
  // files hold.
  std::vector<std::shared_ptr<const TrainingJob>> jobs;
  std::vector<JobKey> invalid_jobs;           // keys of jobs with problems, ordered, unique
  std::vector<std::string> unreadable_files;  // files whose jobs cannot all be known
  std::vector<Diagnostic> diagnostics;        // every problem, ordered by file and position
  // Fields that load but are not honoured (an ElasticJob's brainService, ...), ordered by file
  // and position; they never make a job invalid.
  std::vector<Diagnostic> warnings;

  bool ok() const { return diagnostics.empty(); }
};

// Runs the cross-file checks over parsed files and splits valid from invalid jobs.
LoadResult CheckManifests(const std::vector<ManifestFile>& files);
// The same over files held elsewhere (a parse cache); the jobs are shared, not copied.
LoadResult CheckManifests(const std::vector<const ManifestFile*>& files);

// Loads files and directory trees from disk: *.yaml and *.yml files, recursively, in name
// order; hidden entries (".git") and other files are skipped; symlinked directories are not
// followed. A path that does not exist or cannot be read is a diagnostic, not a crash.
LoadResult LoadManifestPaths(const std::vector<std::string>& paths,
                             const SchemaValidator& validator, const LoadOptions& options = {});

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_LOADER_H_
