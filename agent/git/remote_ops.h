// The network operations the helper child runs with libgit2: ls-remote (where the followed ref
// points now, no objects downloaded) and fetch (the ref into the bare cache, then resolved to a
// commit). Internal to agent/git/; only the child (RunGitHelper) calls them, so a hang here is
// ended by the parent's kill, never by a timeout of libgit2's.
#ifndef JOBSYNC_AGENT_GIT_REMOTE_OPS_H_
#define JOBSYNC_AGENT_GIT_REMOTE_OPS_H_

#include "agent/git/remote_helper.h"

namespace jobsync {

// Runs `request` (op "ls-remote" or "fetch") and returns its outcome; never throws. Fails with
// NotFound when the ref does not exist, FailedPrecondition for an empty repository, Unavailable
// when the remote cannot be reached, PermissionDenied when credentials or the host's identity are
// refused, InvalidArgument for a bad token or CA file; a damaged cache sets cache_damaged.
// Messages are scrubbed of the token.
HelperOutcome RunRemoteOp(const RemoteRequest& request);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_GIT_REMOTE_OPS_H_
