// The semantic checks of a TrainingJob's container and pod fields (volumes, env references,
// envFrom, placement, extended resources, kubernetes.podTemplatePatch) that the schema cannot
// express, and the refusal on backend: ray of every field a shared Ray cluster's Jobs API cannot
// honour. Part of the loader; each problem is a Diagnostic at the file:line:column of the
// offending node, with a hint. Pure functions, thread-safe.
#ifndef JOBSYNC_SCHEMAS_JOB_CHECKS_H_
#define JOBSYNC_SCHEMAS_JOB_CHECKS_H_

#include <optional>
#include <string>
#include <vector>

#include "schemas/diagnostic.h"
#include "schemas/model.h"
#include "schemas/yaml_reader.h"

namespace jobsync {

// Label (annotation == false) and annotation keys that are jobsync's own: everything under
// jobsync.dev/ and app.kubernetes.io/managed-by, which mark who owns an object, except the
// documented user-facing keys (the annotation jobsync.dev/prune; for the local cluster's kwok,
// the label jobsync.dev/kwok-complete and the annotation jobsync.dev/kwok-complete-delay).
bool IsJobsyncOwnKey(const std::string& key, bool annotation);

// Checks `job`, read from the document `root` of the file `path`:
//  - backend: ray: every Kubernetes-only field that is set is refused (spec-level args, envFrom,
//    env references, volumes, nodeSelector, tolerations, affinity, priorityClassName,
//    schedulerName, serviceAccountName, imagePullSecrets, failurePolicy, activeDeadlineSeconds,
//    ttlSecondsAfterFinished, kubernetes; per role image, command, args, env, envFrom, volumes,
//    nodeSelector, tolerations, resources.ephemeralStorage, resources.extended), each saying what
//    to use instead. spec.image and spec.command stay accepted (and ignored) as before.
//  - backend: kubernetes: env references and envFrom entries have exactly one source; volumes have
//    exactly one source, names unique per list, absolute mount paths, unique per role once
//    spec and role volumes are merged (EffectiveRoleSettings); referenced Secret, ConfigMap, PVC,
//    ServiceAccount, PriorityClass and image pull Secret names are DNS-1123 subdomains;
//    nodeSelector keys and values are label keys and values; extended resource names are
//    qualified names other than the resources with their own fields; podTemplatePatch leaves
//    alone what jobsync owns.
// Returns the problems sorted, without duplicates; empty when the job is fine.
std::vector<Diagnostic> CheckJobModel(const TrainingJob& job, const YamlNode& root,
                                      const std::string& path);

// Checks `*cluster` (a job's spec.cluster, read from the document `root` of `path`) against the
// agent's clusters: empty or one of the others is fine; the default one's name becomes empty (the
// default cluster has no name in identities); any other is the problem returned, located at
// spec.cluster, with the known names (or saying there is no clusters file) and a hint.
std::optional<Diagnostic> CheckCluster(const ClusterNames& clusters, const YamlNode& root,
                                       const std::string& path, std::string* cluster);

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_JOB_CHECKS_H_
