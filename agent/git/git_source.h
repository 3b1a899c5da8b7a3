// The Git source: where jobsync's desired state comes from. It follows one ref of one remote
// repository, keeps a bare cache of it (never a work tree), and reads manifests straight from the
// tree of a commit. A --repo that is a local path (a CI job's checkout, a developer's clone) is
// read in place instead: its own refs and objects, shallow or not, with no cache and no fetch
// (local_repo.h). The files of agent/git/ are the only code that uses libgit2 (and the libssh2
// known_hosts API it is built on); git_source.cc says which file holds which part.
//
// The life of a reconcile loop:
//   1. CheckForChange(): ask the remote where the ref points now (ls-remote; no objects are
//      downloaded) and compare with the commit applied last.
//   2. Fetch(): only when it moved; downloads into the bare cache and returns the commit.
//   3. LoadAt(commit): parse the manifests of that commit; files whose blobs did not change since
//      the previous LoadAt are not parsed again (tree-to-tree diff plus a cache by blob id).
// Every failure is a Status: a remote that is down, hangs, refuses the credentials, lost the
// branch, or is empty never yields an empty set of jobs.
//
// Network operations run in a child process (the jobsync binary re-executed with the hidden
// command kGitHelperCommand) that is killed when the network timeout passes: libgit2 1.5 has no
// timeouts of its own. The child serves one operation after another until then, so a poll does not
// pay for starting a process. Messages that leave this adapter are scrubbed of credentials.
#ifndef JOBSYNC_AGENT_GIT_GIT_SOURCE_H_
#define JOBSYNC_AGENT_GIT_GIT_SOURCE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "schemas/loader.h"
#include "schemas/schema_validator.h"
#include "schemas/yaml_reader.h"

namespace jobsync {

// How to authenticate to the remote. Holds file paths and variable names, never secret values.
struct GitCredentials {
  std::string ssh_key_file;      // private key (ed25519 or ecdsa); "<file>.pub" is used if present
  std::string known_hosts_file;  // OpenSSH known_hosts; default ~/.ssh/known_hosts
  bool insecure_ignore_host_key = false;  // accept any SSH host key (tests, first contact)
  std::string token_file;  // HTTPS token (sent as the Basic password), first line of file
  std::string token_env;   // or the name of an environment variable holding it
  std::string ca_file;     // PEM bundle of extra CAs trusted for HTTPS
};

// What a GitSource follows and how. At most one of branch, tag and rev is set; with none the
// source follows the remote's default branch (its HEAD).
struct GitSourceOptions {
  // A local path, or a file://, git://, http(s)://, ssh:// or scp-like (git@host:org/repo) URL.
  std::string repo;
  std::string branch;
  std::string tag;
  // A revision as `git rev-parse` reads it. For a local path, anything rev-parse resolves in
  // that repository: HEAD, HEAD~2, HEAD^2, origin/main, FETCH_HEAD, refs/pull/1/merge, tags,
  // abbreviated ids. For a URL, resolved among the remote's branches and tags: a commit id
  // (full, or abbreviated once fetched), or main~1, v1.0^ and the like.
  std::string rev;
  std::string path;  // sub-folder holding the manifests; empty: the whole repository
  // Root of the caches; one bare repository per remote URL below it. Empty: the default
  // ${XDG_CACHE_HOME:-~/.cache}/jobsync/git.
  std::string cache_root;
  GitCredentials credentials;
  // Upper bound for one network operation (ls-remote or fetch), connection included.
  std::chrono::milliseconds network_timeout = std::chrono::seconds(60);
  int max_credential_attempts = 3;
  // The jobsync executable that runs network operations; empty: this process's own binary.
  std::string helper_binary;
  // Parsed files kept for reuse; beyond it, entries not in the latest snapshot are dropped.
  size_t parse_cache_entries = 20000;
  YamlLimits yaml_limits;
  // How an ElasticJob without the jobsync.dev/elasticjob-mode annotation runs (--elasticjob).
  ElasticJobMode elasticjob_mode = ElasticJobMode::kNative;
  // The agent's clusters, when known (LoadOptions::clusters).
  std::optional<ClusterNames> clusters = std::nullopt;
};

// A commit as people read it in history.
struct CommitInfo {
  std::string id;  // 40 hex digits
  std::string author_name;
  std::string author_email;
  int64_t time = 0;        // author time, seconds since the epoch
  int offset_minutes = 0;  // author's time zone
  std::string summary;     // first paragraph of the message, on one line

  std::string ShortId() const { return id.substr(0, 7); }
};

// The manifests of one commit.
struct Snapshot {
  CommitInfo commit;
  LoadResult manifests;
};

// Counters for tests and metrics. Monotonic over a source's life.
struct GitSourceStats {
  int64_t remote_checks = 0;     // ls-remote runs
  int64_t fetches = 0;           // fetch runs (a rebuild counts its re-clone too)
  int64_t cache_rebuilds = 0;    // caches found damaged, deleted and cloned again
  int64_t files_parsed = 0;      // manifest files parsed
  int64_t parse_cache_hits = 0;  // manifest files reused from the blob cache
  int64_t helper_starts = 0;     // helper processes started (one serves many operations)
};

// A Git repository followed at one ref. Not thread-safe: one caller at a time; separate sources
// may run concurrently but must not share a cache (one remote per process).
class GitSource {
 public:
  virtual ~GitSource() = default;

  // Returns the commit the ref points at on the remote now, without downloading objects (for a
  // local path: in the repository itself, as Fetch does). A full 40-hex rev is returned as is; an
  // abbreviated one resolved through the cache when it was fetched before, else returned as given.
  // Fails with NotFound when the branch or tag does not exist (deleted), FailedPrecondition when
  // the repository is empty, Unavailable when the remote cannot be reached, DeadlineExceeded past
  // the network timeout, PermissionDenied when credentials or the host's identity are refused.
  virtual StatusOr<std::string> CheckForChange() = 0;

  // Brings the ref into the cache (force-pushed branches are followed) and returns the commit it
  // resolves to. A damaged cache is deleted and cloned again, once. Fails as CheckForChange.
  // For a local path nothing is fetched: the ref is resolved in the repository, and a revision
  // a shallow clone lacks fails with NotFound naming the `git fetch` that brings it.
  virtual StatusOr<std::string> Fetch() = 0;

  // Reads and parses the manifests under the path at `commit` (from the cache: Fetch first).
  // Only *.yaml and *.yml files count; hidden entries and symlinks are skipped. Fails with
  // NotFound when the commit is not in the cache or the path does not exist in its tree.
  virtual StatusOr<Snapshot> LoadAt(const std::string& commit) = 0;

  // The commits from `commit` back along first parents (what the followed branch saw), newest
  // first, at most `max_count` of them (0: all). In a shallow local clone the log ends at the
  // oldest commit the clone holds.
  virtual StatusOr<std::vector<CommitInfo>> FirstParentLog(const std::string& commit,
                                                           size_t max_count) = 0;

  // The repository as it may be shown to people: credentials removed.
  virtual const std::string& display_url() const = 0;

  virtual GitSourceStats stats() const = 0;
};

// Checks `options` and creates a source. `validator` must outlive the source. Nothing is read
// from the network until the first call. A local path that does not exist fails with NotFound,
// one outside any Git repository with InvalidArgument, each naming the path.
StatusOr<std::unique_ptr<GitSource>> NewGitSource(GitSourceOptions options,
                                                  const SchemaValidator& validator);

// The HTTPS token `credentials` name (defined in credentials.cc): the first line of token_file
// (trailing space removed), or the value of the variable token_env; "" when neither is set. Fails
// with kInvalidArgument naming the file or variable (never the value) when it cannot be read or is
// empty.
StatusOr<std::string> ReadGitToken(const GitCredentials& credentials);

// ${XDG_CACHE_HOME:-$HOME/.cache}/jobsync/git (defined in git_cache.cc).
std::string DefaultGitCacheRoot();

// The hidden command that runs one network operation in a child process. Not for people.
inline constexpr const char* kGitHelperCommand = "__git-remote";

// Body of the hidden command: runs each request the parent writes to `in` (one JSON line each)
// and writes one JSON line with its outcome to `out`, until `in` ends. Returns the exit code.
// The protocol is in remote_helper.h.
int RunGitHelper(std::istream& in, std::ostream& out);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_GIT_GIT_SOURCE_H_
