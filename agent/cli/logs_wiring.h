// The wiring of `jobsync logs`: the reader of a job's logs, built from the flags. Part of the
// wiring (implemented in wiring.cc, the one place that builds concrete backends), declared apart
// from wiring.h so that the commands that read no logs do not depend on backends/job_logs.h.
#ifndef JOBSYNC_AGENT_CLI_LOGS_WIRING_H_
#define JOBSYNC_AGENT_CLI_LOGS_WIRING_H_

#include <memory>

#include "agent/cli/cluster_flags.h"
#include "backends/job_logs.h"
#include "common/status.h"
#include "schemas/model.h"

namespace jobsync {

// The reader of `job`'s logs (backends/job_logs.h) on the cluster that runs it: the cluster of
// the clusters file spec.cluster names, else the default one (--kubeconfig, --context, --ray-*,
// as ConnectClusters reads them): its pods' logs through the apiserver, or its driver's log
// through the Ray dashboard (polled every second when followed). Sends no request. Fails with
// kFailedPrecondition when the flags name no such cluster or no Ray for it, and as the
// kubeconfig or the Ray settings fail (naming the setting, never a credential).
StatusOr<std::unique_ptr<JobLogReader>> OpenJobLogs(const ClusterFlags& flags,
                                                    const TrainingJob& job);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_CLI_LOGS_WIRING_H_
