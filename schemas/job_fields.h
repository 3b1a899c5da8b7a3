// Reads the container and pod fields of a TrainingJob document (args, env references, envFrom,
// volumes, placement, failure policy, deadlines, runId, per-role overrides, extended resources,
// kubernetes.podTemplatePatch) into the typed model. Part of the loader: the document has passed
// the schema, so every field has its schema type; semantic rules are checked afterwards
// (schemas/job_checks.h). Pure functions, thread-safe.
#ifndef JOBSYNC_SCHEMAS_JOB_FIELDS_H_
#define JOBSYNC_SCHEMAS_JOB_FIELDS_H_

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "schemas/model.h"

namespace jobsync {

// Fields of a manifest volume that describe the mount; every other field is its source.
bool IsVolumeMountField(const std::string& field);

// spec.env or roles.<name>.env: string values into `literals`, reference objects into `refs`.
void ReadEnv(const nlohmann::json& env, std::map<std::string, std::string>* literals,
             std::map<std::string, nlohmann::json>* refs);

// A volumes list: name, mountPath, readOnly and subPath into their fields, the rest (the
// source, exactly one key when valid) into Volume::source.
std::vector<Volume> ReadVolumes(const nlohmann::json& volumes);

// Fills the spec-level fields above from `spec` into `job`.
void ReadJobModelFields(const nlohmann::json& spec, TrainingJob* job);

// Fills a role's overrides from its manifest object `role`.
void ReadRoleOverrides(const nlohmann::json& role, RoleOverrides* overrides);

// The paths of the quantity fields the fields above add, for the loader to parse: each role's
// resources.ephemeralStorage and resources.extended.<name>, and every emptyDir.sizeLimit of the
// spec's and the roles' volumes. Only values that are strings or numbers, wherever the document
// has the shape to hold them (it may have failed the schema elsewhere).
std::vector<std::vector<std::string>> JobModelQuantityPaths(const nlohmann::json& spec);

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_JOB_FIELDS_H_
