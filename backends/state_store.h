// What an agent remembers across restarts, and where: the interface of its state store and the
// format of the document every implementation stores.
//
// The state (domain/inventory.h) is one small JSON document: the revisions the agent applied and
// attempted, and the inventory of jobs it applied. Implementations: a file (agent/sync/
// state_store.h, the default) and a ConfigMap (backends/kubernetes/configmap_state_store.h, when
// the agent runs in Kubernetes and has no persistent disk).
#ifndef JOBSYNC_BACKENDS_STATE_STORE_H_
#define JOBSYNC_BACKENDS_STATE_STORE_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "domain/inventory.h"

namespace jobsync {

// {"version":1,"lastAppliedRevision":...,"lastAttemptedRevision":...,"updated":...,
//  "inventory":[{"key":"kubernetes/ns/name","specHash":...,"revision":...,"finished":false}]}
nlohmann::json AgentStateToJson(const AgentState& state);
// Fails with kInvalidArgument naming the field when the document is not such a state.
StatusOr<AgentState> AgentStateFromJson(const nlohmann::json& json);

// The text a Save stores for `state`: its JSON document (AgentStateToJson, indented by 2) with
// "updated" set to now, or to `updated_unix`.
std::string AgentStateDocument(const AgentState& state);
std::string AgentStateDocument(const AgentState& state, int64_t updated_unix);

// What a message about an unreadable state ends with: deleting it is safe, and why.
inline constexpr const char* kStateStartOverHint =
    " to start over: the agent then re-derives which jobs it owns from their jobsync.dev/instance "
    "labels";

// Where the agent keeps its state. Implementations are thread-safe.
class StateStore {
 public:
  virtual ~StateStore() = default;
  // The stored state; an empty AgentState when nothing was stored yet. Fails (never returns an
  // empty state instead) when the store cannot be read or holds something that is not a state,
  // saying where it is and how to fix it.
  virtual StatusOr<AgentState> Load() = 0;
  // Replaces the stored state with AgentStateDocument(state), atomically: a crash leaves the old
  // or the new document.
  virtual Status Save(const AgentState& state) = 0;
  // "file /path" or "configmap ns/name", for messages.
  virtual std::string Describe() const = 0;
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_STATE_STORE_H_
