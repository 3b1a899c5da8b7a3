// The repository a Git source reads objects from: for a remote, a bare cache repository below
// the cache root (one per remote URL, named after a hash of the URL without user information),
// written by the helper child's fetch and read here; for a --repo path, the local repository
// itself, read in place (local_repo.h), with nothing to verify or rebuild.
//
// A cache can be damaged (a disk filled up, a fetch killed half-way): a fetch verifies what it
// brought (VerifyCommit), a failed read marks the cache suspect (ReadError), and the source then
// deletes it (Rebuild) so that the next fetch clones again. Internal to agent/git/. Not
// thread-safe: owned by one source.
#ifndef JOBSYNC_AGENT_GIT_GIT_CACHE_H_
#define JOBSYNC_AGENT_GIT_GIT_CACHE_H_

#include <string>

#include "agent/git/libgit2.h"
#include "common/status.h"

namespace jobsync {

// The folder of the cache of the repository whose URL without user information is `cache_key`,
// below `cache_root`. Fails with Internal when libgit2 cannot hash the key.
StatusOr<std::string> GitCacheDir(const std::string& cache_root, const std::string& cache_key);

// Removes lock files a killed fetch may have left in `cache`, so that the next fetch can take them.
void RemoveStaleLocks(const std::string& cache);

class GitCache {
 public:
  // A cache at `dir` named `display` in messages; with `local_path` non-empty, the local
  // repository at that path instead (dir is then unused).
  GitCache(std::string dir, std::string display, std::string local_path)
      : dir_(std::move(dir)), display_(std::move(display)), local_path_(std::move(local_path)) {}

  // Opens the repository unless it is open. Fails with NotFound when the cache does not exist
  // yet (fetch first), or as OpenLocalRepository for a local path.
  Status Open();
  // Closes the repository: the helper child is about to change the cache; Open reads it anew.
  void Close() { repo_.reset(); }
  // The open repository; null before Open.
  git_repository* repo() const { return repo_.get(); }

  // Checks that the commit, its trees and the headers of its manifest blobs under `subfolder`
  // (--path; empty: the whole tree) can
  // be read: a fetch trusts the objects the cache claims to have, which a damaged cache may not.
  // Fails with Internal naming the cache and what could not be read.
  Status VerifyCommit(const std::string& commit_id, const std::string& subfolder);

  // Deletes the cache (logging `reason`, scrubbed) so that the next fetch clones it again, and
  // clears the suspect mark.
  void Rebuild(const std::string& reason);

  // A Status for a failed read of `what` (libgit2's last message appended). For a cache, also
  // marks it suspect: the source rebuilds it before the next fetch.
  Status ReadError(const std::string& what);
  bool suspect() const { return suspect_; }

  const std::string& dir() const { return dir_; }

 private:
  bool local() const { return !local_path_.empty(); }

  std::string dir_;
  std::string display_;
  std::string local_path_;
  RepoPtr repo_;          // opened lazily; closed when a fetch changes the cache
  bool suspect_ = false;  // a read failed: rebuild before the next fetch
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_GIT_GIT_CACHE_H_
