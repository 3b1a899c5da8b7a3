// The small libgit2 toolkit the Git source's files share: owning pointers for libgit2 objects,
// the library's global state, commit ids as text and the last libgit2 error. Internal to
// agent/git/ (only its .cc files include it), so that libgit2 stays confined to this folder.
// Everything here is thread-compatible, like libgit2 itself: git_error_last() is per thread.
#ifndef JOBSYNC_AGENT_GIT_LIBGIT2_H_
#define JOBSYNC_AGENT_GIT_LIBGIT2_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <git2.h>

namespace jobsync {

// Owning pointers for libgit2 objects: GitPtr<T, git_T_free>.
template <typename T, void (*Free)(T*)>
struct GitDeleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using GitPtr = std::unique_ptr<T, GitDeleter<T, Free>>;
using RepoPtr = GitPtr<git_repository, git_repository_free>;
using RemotePtr = GitPtr<git_remote, git_remote_free>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using TreeEntryPtr = GitPtr<git_tree_entry, git_tree_entry_free>;
using BlobPtr = GitPtr<git_blob, git_blob_free>;
using ObjectPtr = GitPtr<git_object, git_object_free>;
using DiffPtr = GitPtr<git_diff, git_diff_free>;
using OdbPtr = GitPtr<git_odb, git_odb_free>;

// Keeps libgit2's global state alive while an instance exists (libgit2 counts the calls).
class LibGit2 {
 public:
  LibGit2() { git_libgit2_init(); }
  ~LibGit2() { git_libgit2_shutdown(); }
  LibGit2(const LibGit2&) = delete;
  LibGit2& operator=(const LibGit2&) = delete;
};

// The 40 hex digits of `oid`.
std::string OidHex(const git_oid& oid);

// True when `text` is exactly 40 hex digits.
bool IsFullCommitId(std::string_view text);

// The message of the last libgit2 error on this thread, or "unknown libgit2 error".
std::string LastGitMessage();

// True for the file modes of a regular blob (executable or not): not a link nor a submodule.
bool IsBlobMode(uint32_t mode);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_GIT_LIBGIT2_H_
