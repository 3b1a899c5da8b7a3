// LibGitSource, the GitSource over libgit2: it composes the parts of agent/git/ and owns the
// flow of a reconcile loop (check, fetch, load). The parts, each in its own file:
//   remote_helper: the child process that runs network operations, and its protocol;
//   remote_ops:    ls-remote and fetch with libgit2, in that child;
//   credentials:   the SSH key or token offered, and the check of the host's identity;
//   git_cache:     the bare cache (or the local repository), verified and rebuilt when damaged;
//   manifest_tree: the manifests of a tree, parsed once per blob;
//   local_repo:    revisions of a --repo path, resolved in place;
//   libgit2:       owning pointers and helpers shared by these files.
// libgit2 (and libssh2's known_hosts parser) is used in agent/git/ only, and every libgit2 error
// is converted there into a scrubbed Status.
#include "agent/git/git_source.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <utility>

#include "agent/git/git_cache.h"
#include "agent/git/libgit2.h"
#include "agent/git/local_repo.h"
#include "agent/git/manifest_tree.h"
#include "agent/git/remote_helper.h"
#include "common/secrets.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;

// Where a repository is, as parsed from --repo.
struct RemoteUrl {
  std::string scheme;     // file, git, http, https, ssh, or "path" for a local directory
  std::string location;   // what libgit2 is given
  std::string host;       // network schemes only
  int port = 0;           // 0: the scheme's default
  std::string cache_key;  // the URL without user information: what the cache is named after
};

StatusOr<RemoteUrl> ParseRepo(const std::string& repo) {
  RemoteUrl url;
  if (repo.empty()) return InvalidArgumentError("--repo is empty");
  size_t scheme_end = repo.find("://");
  if (scheme_end == std::string::npos) {
    size_t colon = repo.find(':');
    size_t slash = repo.find('/');
    if (colon == std::string::npos || (slash != std::string::npos && slash < colon)) {
      url.scheme = "path";
      url.location = fs::absolute(repo).lexically_normal().string();
      url.cache_key = url.location;
      return url;
    }
    // scp-like [user@]host:path, which libgit2 reads as ssh.
    url.scheme = "ssh";
    std::string authority = repo.substr(0, colon);
    size_t at = authority.rfind('@');
    url.host = authority.substr(at == std::string::npos ? 0 : at + 1);
    url.location = repo;
    url.cache_key = "ssh://" + url.host + "/" + repo.substr(colon + 1);
    if (url.host.empty()) return InvalidArgumentError("--repo " + repo + " names no host");
    return url;
  }
  url.scheme = repo.substr(0, scheme_end);
  if (url.scheme != "file" && url.scheme != "git" && url.scheme != "http" &&
      url.scheme != "https" && url.scheme != "ssh") {
    return InvalidArgumentError("--repo " + ScrubSecrets(repo) + ": unsupported scheme '" +
                                url.scheme + "' (use file, git, https, http or ssh)");
  }
  url.location = repo;
  size_t authority_begin = scheme_end + 3;
  size_t path_begin = repo.find('/', authority_begin);
  std::string authority = repo.substr(authority_begin, path_begin - authority_begin);
  std::string path = path_begin == std::string::npos ? "" : repo.substr(path_begin);
  size_t at = authority.rfind('@');
  if (at != std::string::npos) authority = authority.substr(at + 1);  // never part of the key
  std::string host_port = authority;
  size_t port_colon = host_port.rfind(':');
  size_t bracket = host_port.rfind(']');
  if (port_colon != std::string::npos && (bracket == std::string::npos || port_colon > bracket)) {
    std::string port = host_port.substr(port_colon + 1);
    host_port = host_port.substr(0, port_colon);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(c) != 0; })) {
      return InvalidArgumentError("--repo " + ScrubSecrets(repo) + ": bad port '" + port + "'");
    }
    url.port = std::stoi(port);
  }
  url.host = host_port;
  if (url.scheme != "file" && url.host.empty()) {
    return InvalidArgumentError("--repo " + ScrubSecrets(repo) + " names no host");
  }
  url.cache_key = url.scheme + "://" + authority + path;
  return url;
}

std::string FormatSeconds(std::chrono::milliseconds duration) {
  std::ostringstream out;
  out << static_cast<double>(duration.count()) / 1000.0 << "s";
  return out.str();
}

std::string ReadSelfExe() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : self.string();
}

CommitInfo CommitInfoOf(const git_commit* commit) {
  CommitInfo info;
  info.id = OidHex(*git_commit_id(commit));
  const git_signature* author = git_commit_author(commit);
  info.author_name = author->name != nullptr ? author->name : "";
  info.author_email = author->email != nullptr ? author->email : "";
  info.time = author->when.time;
  info.offset_minutes = author->when.offset;
  // git_commit_summary takes a non-const commit only to cache the summary in it.
  const char* summary = git_commit_summary(const_cast<git_commit*>(commit));
  info.summary = summary != nullptr ? summary : "";
  return info;
}

// GitSource over libgit2, with network operations in a child process. See GitSource.
class LibGitSource final : public GitSource {
 public:
  LibGitSource(GitSourceOptions options, RemoteUrl url, std::string cache_dir,
               const SchemaValidator& validator)
      : options_(std::move(options)),
        url_(std::move(url)),
        // A local path as an absolute one: "." would name nothing in a message.
        display_url_(url_.scheme == "path" ? url_.location : ScrubSecrets(options_.repo)),
        cache_(std::move(cache_dir), display_url_, url_.scheme == "path" ? url_.location : ""),
        tree_(cache_, validator,
              {options_.yaml_limits, options_.elasticjob_mode, options_.clusters}, options_.path,
              options_.parse_cache_entries) {}

  // GitSource:
  StatusOr<std::string> CheckForChange() override;
  StatusOr<std::string> Fetch() override;
  StatusOr<Snapshot> LoadAt(const std::string& commit) override;
  StatusOr<std::vector<CommitInfo>> FirstParentLog(const std::string& commit,
                                                   size_t max_count) override;
  const std::string& display_url() const override { return display_url_; }
  GitSourceStats stats() const override;

 private:
  // True when --repo is a local path: its own refs and objects are read in place (local_repo.h)
  // and there is no cache to fetch into, verify or rebuild.
  bool local() const { return url_.scheme == "path"; }
  // Resolves the followed ref in the local repository, reopened so that new commits are seen.
  StatusOr<std::string> ResolveLocal();
  // A revision resolved through the cache when it was fetched before, else as given.
  std::string ResolveCachedRev(const std::string& rev);
  RefSpec Ref() const;
  // Runs one operation ("ls-remote" or "fetch") in the helper process, within the timeout.
  HelperOutcome RunNetworkOp(const std::string& op);
  void RebuildCache(const std::string& reason);
  // The commit `commit_id` in the cache, and the tree under --path at it.
  StatusOr<CommitPtr> LookupCommit(const std::string& commit_id);
  StatusOr<TreePtr> ManifestRoot(git_commit* commit, const std::string& commit_id);

  LibGit2 libgit2_;
  GitSourceOptions options_;
  RemoteUrl url_;
  std::string display_url_;
  GitCache cache_;
  ManifestTree tree_;
  std::unique_ptr<HelperProcess> helper_;  // started by the first network operation
  GitSourceStats stats_;
};

GitSourceStats LibGitSource::stats() const {
  GitSourceStats stats = stats_;
  stats.files_parsed = tree_.files_parsed();
  stats.parse_cache_hits = tree_.parse_cache_hits();
  return stats;
}

RefSpec LibGitSource::Ref() const {
  if (!options_.branch.empty()) return {"branch", options_.branch};
  if (!options_.tag.empty()) return {"tag", options_.tag};
  if (!options_.rev.empty()) return {"rev", options_.rev};
  return {"default", ""};
}

HelperOutcome LibGitSource::RunNetworkOp(const std::string& op) {
  StatusOr<std::string> token = ReadGitToken(options_.credentials);
  if (!token.ok()) return {token.status(), "", false};
  std::vector<std::string> secrets = {*token};
  RemoteRequest request{op,
                        url_.location,
                        display_url_,
                        url_.host,
                        url_.port,
                        Ref(),
                        cache_.dir(),
                        options_.credentials,
                        options_.max_credential_attempts};
  if (!helper_) helper_ = std::make_unique<HelperProcess>(options_.helper_binary);
  StatusOr<ChildOutput> child = helper_->Call(EncodeRequest(request), options_.network_timeout);
  stats_.helper_starts = helper_->starts();
  if (!child.ok()) return {child.status(), "", false};
  if (child->timed_out) {
    if (op == "fetch") RemoveStaleLocks(cache_.dir());
    return {DeadlineExceededError("git " + op + " of " + display_url_ + " did not finish within " +
                                  FormatSeconds(options_.network_timeout) +
                                  " (--git-timeout): the remote is slow or not answering"),
            "", false};
  }
  return DecodeReply(*child, request, options_.helper_binary, secrets);
}

StatusOr<std::string> LibGitSource::ResolveLocal() {
  cache_.Close();
  JOBSYNC_RETURN_IF_ERROR(cache_.Open());
  RefSpec ref = Ref();
  return ResolveLocalRevision(cache_.repo(), ref.kind, ref.name, display_url_);
}

std::string LibGitSource::ResolveCachedRev(const std::string& rev) {
  if (IsFullCommitId(rev)) return rev;
  if (cache_.Open().ok()) {
    git_object* raw = nullptr;
    if (git_revparse_single(&raw, cache_.repo(), rev.c_str()) == 0) {
      ObjectPtr object(raw);
      git_object* raw_commit = nullptr;
      if (git_object_peel(&raw_commit, object.get(), GIT_OBJECT_COMMIT) == 0) {
        ObjectPtr commit(raw_commit);
        return OidHex(*git_object_id(commit.get()));
      }
    }
  }
  return rev;
}

StatusOr<std::string> LibGitSource::CheckForChange() {
  if (local()) {
    ++stats_.remote_checks;
    return ResolveLocal();
  }
  RefSpec ref = Ref();
  if (ref.kind == "rev") return ResolveCachedRev(ref.name);
  ++stats_.remote_checks;
  HelperOutcome outcome = RunNetworkOp("ls-remote");
  if (!outcome.status.ok()) return outcome.status;
  return outcome.commit;
}

StatusOr<std::string> LibGitSource::Fetch() {
  if (local()) return ResolveLocal();
  if (cache_.suspect()) RebuildCache("a read from it failed");
  for (int attempt = 0;; ++attempt) {
    ++stats_.fetches;
    cache_.Close();  // the child changes the cache; reopen it afterwards
    HelperOutcome outcome = RunNetworkOp("fetch");
    if (outcome.status.ok()) {
      Status readable = cache_.VerifyCommit(outcome.commit, options_.path);
      if (readable.ok()) return outcome.commit;
      outcome.status = readable;
      outcome.cache_damaged = true;
    }
    if (!outcome.cache_damaged || attempt > 0) return outcome.status;
    RebuildCache(outcome.status.message());
  }
}

void LibGitSource::RebuildCache(const std::string& reason) {
  cache_.Rebuild(reason);
  ++stats_.cache_rebuilds;
}

StatusOr<CommitPtr> LibGitSource::LookupCommit(const std::string& commit_id) {
  git_oid oid;
  if (!IsFullCommitId(commit_id) || git_oid_fromstr(&oid, commit_id.c_str()) != 0) {
    return InvalidArgumentError("'" + commit_id + "' is not a full commit id");
  }
  git_commit* raw_commit = nullptr;
  int rc = git_commit_lookup(&raw_commit, cache_.repo(), &oid);
  CommitPtr commit(raw_commit);
  if (rc == GIT_ENOTFOUND) {
    return NotFoundError("commit " + commit_id +
                         (local() ? " is not in " : " is not in the cache of ") + display_url_ +
                         ": fetch it first");
  }
  if (rc != 0) return cache_.ReadError("cannot read commit " + commit_id);
  return commit;
}

StatusOr<TreePtr> LibGitSource::ManifestRoot(git_commit* commit, const std::string& commit_id) {
  git_tree* raw_root = nullptr;
  if (git_commit_tree(&raw_root, commit) != 0) {
    return cache_.ReadError("cannot read the tree of commit " + commit_id);
  }
  TreePtr root(raw_root);
  if (options_.path.empty()) return root;
  git_tree_entry* raw_entry = nullptr;
  int rc = git_tree_entry_bypath(&raw_entry, root.get(), options_.path.c_str());
  TreeEntryPtr entry(raw_entry);
  if (rc == GIT_ENOTFOUND) {
    return NotFoundError("--path " + options_.path + " does not exist at commit " +
                         commit_id.substr(0, 7) + " of " + display_url_);
  }
  if (rc != 0) return cache_.ReadError("cannot read " + options_.path);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) {
    return InvalidArgumentError("--path " + options_.path + " at commit " + commit_id.substr(0, 7) +
                                " of " + display_url_ + " is a file, not a folder");
  }
  git_tree* raw_tree = nullptr;
  if (git_tree_lookup(&raw_tree, cache_.repo(), git_tree_entry_id(entry.get())) != 0) {
    return cache_.ReadError("cannot read the tree of " + options_.path);
  }
  return TreePtr(raw_tree);
}

StatusOr<Snapshot> LibGitSource::LoadAt(const std::string& commit_id) {
  JOBSYNC_RETURN_IF_ERROR(cache_.Open());
  StatusOr<CommitPtr> commit = LookupCommit(commit_id);
  if (!commit.ok()) return commit.status();
  StatusOr<TreePtr> tree = ManifestRoot(commit->get(), commit_id);
  if (!tree.ok()) return tree.status();
  JOBSYNC_RETURN_IF_ERROR(tree_.Load(tree->get()));
  Snapshot snapshot;
  snapshot.commit = CommitInfoOf(commit->get());
  snapshot.manifests = tree_.Check();
  return snapshot;
}

StatusOr<std::vector<CommitInfo>> LibGitSource::FirstParentLog(const std::string& commit_id,
                                                               size_t max_count) {
  JOBSYNC_RETURN_IF_ERROR(cache_.Open());
  git_oid oid;
  if (!IsFullCommitId(commit_id) || git_oid_fromstr(&oid, commit_id.c_str()) != 0) {
    return InvalidArgumentError("'" + commit_id + "' is not a full commit id");
  }
  // The first-parent chain, one commit at a time. libgit2 1.5's revwalk reads every parent
  // before it yields a commit, so it fails at once in a shallow clone, whose oldest commits name
  // parents it does not have: there the log ends, as `git log --first-parent` does.
  std::vector<CommitInfo> log;
  git_oid next = oid;
  while (max_count == 0 || log.size() < max_count) {
    git_commit* raw_commit = nullptr;
    int rc = git_commit_lookup(&raw_commit, cache_.repo(), &next);
    CommitPtr commit(raw_commit);
    if (rc == GIT_ENOTFOUND && log.empty()) {
      return NotFoundError("commit " + commit_id +
                           (local() ? " is not in " : " is not in the cache of ") + display_url_);
    }
    if (rc == GIT_ENOTFOUND && local() && IsShallowRepository(cache_.repo())) break;
    if (rc != 0) return cache_.ReadError("cannot read commit " + OidHex(next));
    log.push_back(CommitInfoOf(commit.get()));
    if (git_commit_parentcount(commit.get()) == 0) break;
    next = *git_commit_parent_id(commit.get(), 0);
  }
  return log;
}

}  // namespace

StatusOr<std::unique_ptr<GitSource>> NewGitSource(GitSourceOptions options,
                                                  const SchemaValidator& validator) {
  int refs = !options.branch.empty() + !options.tag.empty() + !options.rev.empty();
  if (refs > 1) return InvalidArgumentError("pass at most one of --branch, --tag and --rev");
  // A revision is anything `git rev-parse` resolves (an id, main~1, v1.2^{commit}) among the
  // remote's branches and tags; it is passed to libgit2, never to a shell.
  if (!options.rev.empty() && (options.rev.size() > 200 || options.rev[0] == '-' ||
                               !std::all_of(options.rev.begin(), options.rev.end(), [](char c) {
                                 return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                                        std::string_view("~^./_-@{}:").find(c) !=
                                            std::string_view::npos;
                               }))) {
    return InvalidArgumentError(
        "--rev " + options.rev +
        " is not a revision (a commit id, a branch, tag or ref such as origin/main or "
        "refs/pull/1/merge, HEAD, with ~N or ^N)");
  }
  if (options.network_timeout <= std::chrono::milliseconds(0)) {
    return InvalidArgumentError("the network timeout must be positive");
  }
  if (options.max_credential_attempts < 1) {
    return InvalidArgumentError("the credential attempts must be at least 1");
  }
  while (options.path.size() > 1 && options.path.back() == '/') options.path.pop_back();
  while (options.path.rfind("./", 0) == 0) options.path.erase(0, 2);
  if (options.path == "." || options.path == "/") options.path.clear();
  if (!options.path.empty() && options.path[0] == '/') {
    return InvalidArgumentError("--path " + options.path +
                                " must be relative to the repository's root");
  }
  StatusOr<RemoteUrl> url = ParseRepo(options.repo);
  if (!url.ok()) return url.status();
  if (url->scheme == "path") {
    // Named now, not on the first read: a missing folder, or one outside any repository.
    LibGit2 libgit2;
    git_repository* raw = nullptr;
    JOBSYNC_RETURN_IF_ERROR(OpenLocalRepository(options.repo, &raw));
    RepoPtr checked(raw);
  }
  const GitCredentials& c = options.credentials;
  if (!c.token_file.empty() && !c.token_env.empty()) {
    return InvalidArgumentError("pass one of --token-file and --token-env, not both");
  }
  if ((!c.token_file.empty() || !c.token_env.empty()) && url->scheme == "http") {
    return InvalidArgumentError("refusing to send a token over plain http to " +
                                ScrubSecrets(options.repo) + ": use https");
  }
  if (!c.ssh_key_file.empty() && !fs::exists(c.ssh_key_file)) {
    return InvalidArgumentError("the SSH key file " + c.ssh_key_file + " does not exist");
  }
  if (options.helper_binary.empty()) options.helper_binary = ReadSelfExe();
  if (options.helper_binary.empty()) {
    return InternalError("cannot find the jobsync executable (/proc/self/exe) for git operations");
  }
  if (options.cache_root.empty()) options.cache_root = DefaultGitCacheRoot();
  StatusOr<std::string> cache_dir = GitCacheDir(options.cache_root, url->cache_key);
  if (!cache_dir.ok()) return cache_dir.status();
  return std::unique_ptr<GitSource>(
      new LibGitSource(std::move(options), std::move(*url), std::move(*cache_dir), validator));
}

}  // namespace jobsync
