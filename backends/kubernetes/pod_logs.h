// A training job's logs on Kubernetes: its pods' container logs, read through the apiserver
// (GET /api/v1/namespaces/NS/pods/POD/log), which asks the pod's node.
//
// Finding the pods. Every pod jobsync's objects make carries the job's ownership labels
// (mapping.h: app.kubernetes.io/managed-by and jobsync.dev/job), whatever the workload: a role's
// Indexed Job, a JobSet's child Jobs, a RayJob's head and worker groups; they are listed with
// JobSelector. DLRover's operator labels the pods of an ElasticJob it runs with
// elasticjob.dlrover/name instead; those are listed when the first listing finds none.
//
// Role and index of a pod. The role is its jobsync.dev/role label, else DLRover's
// elasticjob.dlrover/replica-type. The index is the completion index the Job controller gives
// each pod of an Indexed Job (label, and annotation, batch.kubernetes.io/job-completion-index:
// roles as Jobs and a JobSet's one Job per role), else DLRover's elasticjob.dlrover/replica-index;
// pods with neither (a KubeRay worker group) are numbered 0, 1, ... in name order within their
// role. When an index has several pods (a failed pod and its replacement), the newest
// (creationTimestamp, then name) is the one read.
//
// The container read: the one named after the role (pod_spec.h), else the pod's first. Pods on no
// node yet (Pending in the scheduler's queue) have no log to read: they are left out.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_POD_LOGS_H_
#define JOBSYNC_BACKENDS_KUBERNETES_POD_LOGS_H_

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/job_logs.h"
#include "backends/kubernetes/client.h"
#include "common/status.h"
#include "schemas/model.h"

namespace jobsync {

// Where the Job controller writes a pod's completion index (a label since Kubernetes 1.28, an
// annotation before and since), and DLRover's labels of an ElasticJob's pods.
inline constexpr const char* kCompletionIndexKey = "batch.kubernetes.io/job-completion-index";
inline constexpr const char* kDlroverJobLabel = "elasticjob.dlrover/name";
inline constexpr const char* kDlroverReplicaTypeLabel = "elasticjob.dlrover/replica-type";
inline constexpr const char* kDlroverReplicaIndexLabel = "elasticjob.dlrover/replica-index";

// More followed logs than this at once are refused: narrow the query with --role or --index.
inline constexpr size_t kMaxFollowedLogs = 64;

// One container log to read.
struct PodLogSource {
  std::string pod;
  std::string container;
  std::string role;
  int index = 0;

  friend bool operator==(const PodLogSource&, const PodLogSource&) = default;
};

// The logs `query` selects among `pods` (the job's pods as listed), ordered by role, then index
// (see the top of this file). `query.role` must be a role of the manifest or of a pod, else
// kInvalidArgument listing the roles; `query.index` without a role needs a job of one role (else
// kInvalidArgument), and must be below the role's replica count (its replicas, elastic maximum,
// or the highest index a pod has, plus one), else kInvalidArgument giving the range. No pods at
// all, none of the role, or none at the index: kFailedPrecondition "job K has no pods yet"
// (", of role R", ", for R index I"); when the only ones wait to be scheduled, "job K has no pods
// on a node (N pods wait to be scheduled); try again". Pure.
StatusOr<std::vector<PodLogSource>> SelectPodLogs(const TrainingJob& job,
                                                  const std::vector<nlohmann::json>& pods,
                                                  const LogQuery& query);

// "[pod/NAME/CONTAINER] ", the prefix of a line from `source` when several logs are read.
std::string PodLogPrefix(const PodLogSource& source);

// JobLogReader over one apiserver. Without follow the logs are read one after the other; with
// follow, each in a thread of its own (at most kMaxFollowedLogs), and the first that fails stops
// the others. Thread-compatible.
class KubernetesJobLogs : public JobLogReader {
 public:
  explicit KubernetesJobLogs(std::unique_ptr<KubernetesClient> client);

  // JobLogReader:
  Status Read(const TrainingJob& job, const LogQuery& query, const LogLineSink& sink) override;

 private:
  // The job's pods (see the top of this file).
  StatusOr<std::vector<nlohmann::json>> ListPods(const TrainingJob& job);
  Status Follow(const TrainingJob& job, const std::vector<PodLogSource>& sources,
                const LogQuery& query, const LogLineSink& sink);

  const std::unique_ptr<KubernetesClient> client_;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_POD_LOGS_H_
