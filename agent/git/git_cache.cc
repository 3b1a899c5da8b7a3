// The bare cache of a remote, or the local repository read in place. See git_cache.h.
#include "agent/git/git_cache.h"

#include <cstdlib>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "agent/git/git_source.h"
#include "agent/git/local_repo.h"
#include "agent/git/manifest_tree.h"
#include "common/secrets.h"

namespace jobsync {

namespace fs = std::filesystem;

std::string DefaultGitCacheRoot() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  fs::path root;
  if (xdg != nullptr && *xdg != '\0') {
    root = xdg;
  } else {
    const char* home = std::getenv("HOME");
    root = fs::path(home != nullptr ? home : "/tmp") / ".cache";
  }
  return (root / "jobsync" / "git").string();
}

StatusOr<std::string> GitCacheDir(const std::string& cache_root, const std::string& cache_key) {
  git_oid key_hash;
  LibGit2 libgit2;
  if (git_odb_hash(&key_hash, cache_key.data(), cache_key.size(), GIT_OBJECT_BLOB) != 0) {
    return InternalError("cannot hash the repository URL: " + LastGitMessage());
  }
  return (fs::path(cache_root) / OidHex(key_hash)).string();
}

// Removes lock files a killed fetch may have left, so that the next fetch can take them.
void RemoveStaleLocks(const std::string& cache) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(cache, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".lock") fs::remove(it->path(), ec);
  }
}

Status GitCache::Open() {
  if (repo_ != nullptr) return OkStatus();
  git_repository* raw = nullptr;
  if (local()) {
    JOBSYNC_RETURN_IF_ERROR(OpenLocalRepository(local_path_, &raw));
    repo_.reset(raw);
    return OkStatus();
  }
  if (git_repository_open_bare(&raw, dir_.c_str()) != 0) {
    return NotFoundError("no git cache for " + display_ + " at " + dir_ + ": fetch first (" +
                         LastGitMessage() + ")");
  }
  repo_.reset(raw);
  return OkStatus();
}

Status GitCache::VerifyCommit(const std::string& commit_id, const std::string& subfolder) {
  JOBSYNC_RETURN_IF_ERROR(Open());
  auto damaged = [&](const std::string& what) {
    return InternalError("the git cache " + dir_ + " is damaged (" + what + " of commit " +
                         commit_id + ": " + LastGitMessage() + ")");
  };
  git_oid oid;
  git_commit* raw_commit = nullptr;
  if (git_oid_fromstr(&oid, commit_id.c_str()) != 0 ||
      git_commit_lookup(&raw_commit, repo_.get(), &oid) != 0) {
    return damaged("cannot read the commit");
  }
  CommitPtr commit(raw_commit);
  git_tree* raw_tree = nullptr;
  if (git_commit_tree(&raw_tree, commit.get()) != 0) return damaged("cannot read the tree");
  TreePtr tree(raw_tree);
  git_odb* raw_odb = nullptr;
  if (git_repository_odb(&raw_odb, repo_.get()) != 0) return damaged("cannot open the objects");
  OdbPtr odb(raw_odb);
  struct Walk {
    git_odb* odb;
    std::string prefix;  // --path with a trailing slash, or empty
    bool failed = false;
  } walk{odb.get(), subfolder.empty() ? "" : subfolder + "/"};
  auto callback = [](const char* root, const git_tree_entry* entry, void* payload) -> int {
    auto* w = static_cast<Walk*>(payload);
    std::string path = std::string(root) + git_tree_entry_name(entry);
    if (git_tree_entry_type(entry) == GIT_OBJECT_TREE) {
      // Descend only into the path and the folders leading to it.
      std::string folder = path + "/";
      bool on_the_way = w->prefix.rfind(folder, 0) == 0 || folder.rfind(w->prefix, 0) == 0;
      return on_the_way ? 0 : 1;
    }
    if (!IsBlobMode(git_tree_entry_filemode(entry)) || path.rfind(w->prefix, 0) != 0 ||
        !IsManifestPath(path.substr(w->prefix.size()))) {
      return 0;
    }
    size_t size = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    if (git_odb_read_header(&size, &type, w->odb, git_tree_entry_id(entry)) != 0) {
      w->failed = true;
      return -1;
    }
    return 0;
  };
  if (git_tree_walk(tree.get(), GIT_TREEWALK_PRE, callback, &walk) != 0 || walk.failed) {
    return damaged("cannot read the files");
  }
  return OkStatus();
}

void GitCache::Rebuild(const std::string& reason) {
  spdlog::warn("git cache {} of {} is damaged ({}); deleting it and cloning again", dir_, display_,
               ScrubSecrets(reason));
  repo_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
  suspect_ = false;
}

Status GitCache::ReadError(const std::string& what) {
  if (local()) return InternalError(what + " in " + display_ + ": " + LastGitMessage());
  suspect_ = true;
  return InternalError(what + " in the git cache " + dir_ + ": " + LastGitMessage() +
                       "; the cache will be rebuilt on the next fetch");
}

}  // namespace jobsync
