// The agent's state (backends/state_store.h) in a ConfigMap: the store of an agent that runs in
// Kubernetes and has no persistent disk.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_CONFIGMAP_STATE_STORE_H_
#define JOBSYNC_BACKENDS_KUBERNETES_CONFIGMAP_STATE_STORE_H_

#include <memory>
#include <string>

#include "backends/kubernetes/client.h"
#include "backends/state_store.h"

namespace jobsync {

// The ConfigMap's data key "state.json", created when missing (labelled managed-by jobsync),
// replaced guarded by its resourceVersion. `client` must outlive the store. Thread-safe, as
// KubernetesClient is.
std::unique_ptr<StateStore> NewConfigMapStateStore(KubernetesClient& client,
                                                   std::string namespace_name, std::string name);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_CONFIGMAP_STATE_STORE_H_
