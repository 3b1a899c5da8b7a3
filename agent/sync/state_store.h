// What an agent remembers across restarts: the revisions it applied and attempted, and the
// inventory of jobs it applied. Stored as one small JSON document, in a file (default) or in a
// ConfigMap (when the agent runs in Kubernetes and has no persistent disk).
//
// Ownership of live objects is decided by their labels (jobsync.dev/instance), which survive a
// crash between a create and the next state write; the inventory adds what labels cannot say:
// which spec this instance last applied to each job, so the agent can tell drift (a job changed
// or deleted outside Git) from work it has not done yet, and the phase it last saw, so a finished
// job that disappeared is not run again.
#ifndef JOBSYNC_AGENT_SYNC_STATE_STORE_H_
#define JOBSYNC_AGENT_SYNC_STATE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "backends/kubernetes/client.h"
#include "common/status.h"
#include "domain/inventory.h"

namespace jobsync {

// {"version":1,"lastAppliedRevision":...,"lastAttemptedRevision":...,"updated":...,
//  "inventory":[{"key":"kubernetes/ns/name","specHash":...,"revision":...,"finished":false}]}
nlohmann::json AgentStateToJson(const AgentState& state);
// Fails with kInvalidArgument naming the field when the document is not such a state.
StatusOr<AgentState> AgentStateFromJson(const nlohmann::json& json);

class StateStore {
 public:
  virtual ~StateStore() = default;
  // The stored state; an empty AgentState when nothing was stored yet. Fails (never returns an
  // empty state instead) when the store cannot be read or holds something that is not a state,
  // saying where it is and how to fix it.
  virtual StatusOr<AgentState> Load() = 0;
  // Replaces the stored state, atomically: a crash leaves the old or the new document.
  virtual Status Save(const AgentState& state) = 0;
  // "file /path" or "configmap ns/name", for messages.
  virtual std::string Describe() const = 0;
};

// A JSON file, written to a temporary file beside it, fsynced, and renamed over it. Creates the
// parent directory when missing.
std::unique_ptr<StateStore> NewFileStateStore(std::string path);

// A ConfigMap's data key "state.json", created when missing, replaced guarded by its
// resourceVersion. `client` must outlive the store.
std::unique_ptr<StateStore> NewConfigMapStateStore(KubernetesClient& client,
                                                   std::string namespace_name, std::string name);

// ${XDG_STATE_HOME:-$HOME/.local/state}/jobsync/<instance>.state.json
std::string DefaultStateFile(const std::string& instance);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_STATE_STORE_H_
