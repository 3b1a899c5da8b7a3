// The pod template of one role's Job: where every container and pod setting of a TrainingJob
// lands in the Kubernetes API, and the podTemplatePatch applied over it. Pure, thread-safe.
//
// Settings come from EffectiveRoleSettings(job, role) (the spec's, with the role's overrides):
//   - the training container, named after the role: image, command, args, env, envFrom,
//     volumeMounts ({name, mountPath, readOnly when true, subPath when set}), resources;
//   - the pod: restartPolicy Never, subdomain <job name>, volumes ({name} plus the volume's one
//     source object), nodeSelector, tolerations, affinity, priorityClassName, schedulerName,
//     serviceAccountName, imagePullSecrets ([{name}]).
// Each is written only when the manifest sets it, so a job without them renders as before.
// Resources: cpu and memory as requests and limits alike; nvidia.com/gpu as a limit (Kubernetes
// sets the request equal); ephemeral-storage like memory; extended resources as limits and
// requests equal (Kubernetes refuses an extended resource whose request differs from its limit).
//
// Environment of the training container, in order: jobsync's variables, then the manifest's env
// (literal values and valueFrom references together, by name), so that a manifest value can
// refer to jobsync's with Kubernetes' $(NAME) expansion, which sees only variables defined
// before it (an ElasticJob's NODE_NUM is "$(JOBSYNC_REPLICAS_WORKER)"). jobsync's win over the
// manifest's (manifest entries with jobsync's names are dropped): JOBSYNC_JOB, JOBSYNC_NAMESPACE,
// JOBSYNC_ROLE, JOBSYNC_INDEX (downward API from the job-completion-index annotation),
// JOBSYNC_REPLICAS_<ROLE> for every role (upper case, '-' as '_'), for every elastic role
// (ElasticBounds set) JOBSYNC_MIN_REPLICAS_<ROLE> and JOBSYNC_MAX_REPLICAS_<ROLE>, then
// JOBSYNC_WORLD_SIZE (all replicas), JOBSYNC_SERVICE (the headless service's DNS name),
// JOBSYNC_RENDEZVOUS (the host of index 0 of the rendezvous role: "chief", else "master", else
// the first role by name) and, when this role is elastic, JOBSYNC_NNODES=<min>:<max> (torchrun's
// --nnodes).
#ifndef JOBSYNC_BACKENDS_KUBERNETES_POD_SPEC_H_
#define JOBSYNC_BACKENDS_KUBERNETES_POD_SPEC_H_

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "schemas/model.h"

namespace jobsync {

// A container's resources ({requests, limits}) for `resources`, as the header says.
nlohmann::json ContainerResources(const Resources& resources);

// The pod template ({metadata: {labels}, spec}) of `role` of `job`, before podTemplatePatch.
// Precondition: `role` is a role of `job`.
nlohmann::json RolePodTemplate(const TrainingJob& job, const std::string& role,
                               const nlohmann::json& labels);

// `rendered` (RolePodTemplate's) with job.pod_template_patch strategic-merged over it
// (backends/kubernetes/strategic_merge.h); `rendered` itself when the job has no patch. Fails
// with kInvalidArgument, naming the job's manifest and the role, when the patch is malformed or
// changes what jobsync owns: the app.kubernetes.io/managed-by label and any jobsync.dev/ label or
// annotation, the training container (its presence under the role's name), its JOBSYNC_* env,
// spec.subdomain or spec.restartPolicy. The loader checks the patch first; this is the backstop.
StatusOr<nlohmann::json> PatchedPodTemplate(const TrainingJob& job, const std::string& role,
                                            nlohmann::json rendered);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_POD_SPEC_H_
