// Reading a repository that is already on this machine: a clone a CI job checked out (often
// shallow, often on a detached HEAD), or any work tree or bare repository given to --repo as a
// path. Its own refs and objects are read in place with libgit2, so every revision `git
// rev-parse` resolves there resolves here too: HEAD, HEAD~2, HEAD^2, origin/main, FETCH_HEAD,
// refs/pull/1/merge, tags, abbreviated ids. Nothing is fetched and no cache is made.
//
// Part of the libgit2 adapter of agent/git/: git_source.cc and git_cache.cc use it for --repo
// paths; nothing outside agent/git/ includes this header. Functions are thread-compatible: one
// repository handle per thread.
#ifndef JOBSYNC_AGENT_GIT_LOCAL_REPO_H_
#define JOBSYNC_AGENT_GIT_LOCAL_REPO_H_

#include <string>

#include <git2.h>

#include "common/status.h"

namespace jobsync {

// Opens the repository at `path`: a work tree, a folder inside one (searched upwards as git
// does), or a bare repository. Fails with NotFound when `path` does not exist and with
// InvalidArgument when it is not inside a Git repository; both messages name the path and say
// what to pass instead. On success the caller owns `*out` (git_repository_free).
Status OpenLocalRepository(const std::string& path, git_repository** out);

// Resolves what a source follows to a commit id (40 hex digits), as `git rev-parse
// <spec>^{commit}` would in `repo`:
//   kind "default": HEAD (a detached HEAD included);
//   kind "branch":  refs/heads/<name>;
//   kind "tag":     refs/tags/<name>, peeled;
//   kind "rev":     any revision expression.
// `display` names the repository in messages. Fails with NotFound naming the revision; when the
// repository is a shallow clone, the message says so and gives the `git fetch` that would bring
// the revision (--depth=1 origin <branch> for a missing branch, --deepen=N for missing
// ancestors). InvalidArgument when the revision is ambiguous or does not name a commit.
StatusOr<std::string> ResolveLocalRevision(git_repository* repo, const std::string& kind,
                                           const std::string& name, const std::string& display);

// True when `repo` is a shallow clone (it has a .git/shallow file): some parents are missing.
bool IsShallowRepository(git_repository* repo);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_GIT_LOCAL_REPO_H_
