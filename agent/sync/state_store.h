// The agent's own state file: the default state store (backends/state_store.h says what the
// state is). It lives with the agent rather than beside the backends because it is the agent's
// disk, not a cluster; the ConfigMap store, which is a cluster's, is in backends/kubernetes/.
#ifndef JOBSYNC_AGENT_SYNC_STATE_STORE_H_
#define JOBSYNC_AGENT_SYNC_STATE_STORE_H_

#include <memory>
#include <string>

#include "backends/state_store.h"

namespace jobsync {

// A JSON file, written to a temporary file beside it, fsynced, and renamed over it. Creates the
// parent directory when missing.
std::unique_ptr<StateStore> NewFileStateStore(std::string path);

// ${XDG_STATE_HOME:-$HOME/.local/state}/jobsync/<instance>.state.json
std::string DefaultStateFile(const std::string& instance);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SYNC_STATE_STORE_H_
