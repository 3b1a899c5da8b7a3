// ls-remote and fetch with libgit2, run in the helper child. See remote_ops.h.
#include "agent/git/remote_ops.h"

#include <filesystem>
#include <string>
#include <vector>

#include <git2.h>

#include "agent/git/credentials.h"
#include "agent/git/libgit2.h"
#include "common/secrets.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;

Status HelperError(int rc, const std::string& what, const HelperContext& ctx) {
  if (!ctx.failure.ok()) return ctx.failure;
  const git_error* error = git_error_last();
  int klass = error != nullptr ? error->klass : GIT_ERROR_NONE;
  std::string message = what + ": " + ScrubSecrets(LastGitMessage(), {ctx.token});
  // A server may hang up after its own limit of failed tries (sshd's MaxAuthTries), before ours.
  if (ctx.attempts > 0 && klass == GIT_ERROR_SSH &&
      message.find("authentication") != std::string::npos) {
    return PermissionDeniedError(
        "authentication failed for " + ctx.display + " after " + std::to_string(ctx.attempts) +
        " attempts, then the server hung up (" + message + "): " + ctx.auth_hint);
  }
  if (rc == GIT_ENOTFOUND) return NotFoundError(message);
  if (rc == GIT_EAUTH || rc == GIT_ECERTIFICATE) return PermissionDeniedError(message);
  if (klass == GIT_ERROR_NET || klass == GIT_ERROR_SSH || klass == GIT_ERROR_SSL ||
      klass == GIT_ERROR_HTTP || klass == GIT_ERROR_OS) {
    return UnavailableError(message);
  }
  if (klass == GIT_ERROR_REPOSITORY) return NotFoundError(message);
  return InternalError(message);
}

// Connects and lists the remote's refs; `heads` stays valid while `remote` is connected.
Status ConnectAndList(git_remote* remote, HelperContext& ctx, const std::string& what,
                      const git_remote_head*** heads, size_t* count) {
  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  callbacks.credentials = CredentialCallback;
  callbacks.certificate_check = CertificateCallback;
  callbacks.payload = &ctx;
  int rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr);
  if (rc != 0) return HelperError(rc, what, ctx);
  rc = git_remote_ls(heads, count, remote);
  if (rc != 0) return HelperError(rc, what, ctx);
  return OkStatus();
}

// The remote ref a request follows and the commit it points at.
struct RemoteTip {
  std::string ref;     // refs/heads/main, refs/tags/v1
  std::string commit;  // peeled for annotated tags
};

StatusOr<RemoteTip> FindTip(git_remote* remote, const git_remote_head* const* heads, size_t count,
                            const RefSpec& ref, const HelperContext& ctx) {
  size_t non_empty = 0;
  for (size_t i = 0; i < count; ++i) {
    if (!git_oid_is_zero(&heads[i]->oid)) ++non_empty;
  }
  if (non_empty == 0) {
    return FailedPreconditionError("repository " + ctx.display +
                                   " is empty: it has no commits yet; push one");
  }
  RemoteTip tip;
  if (ref.kind == "default") {
    git_buf name = GIT_BUF_INIT;
    if (git_remote_default_branch(&name, remote) != 0) {
      return NotFoundError("repository " + ctx.display +
                           " has no default branch (HEAD): pass --branch");
    }
    tip.ref = name.ptr;
    git_buf_dispose(&name);
  } else {
    tip.ref = (ref.kind == "tag" ? "refs/tags/" : "refs/heads/") + ref.name;
  }
  std::string peeled = tip.ref + "^{}";
  for (size_t i = 0; i < count; ++i) {
    std::string name = heads[i]->name;
    if (name == tip.ref && tip.commit.empty()) tip.commit = OidHex(heads[i]->oid);
    if (name == peeled) tip.commit = OidHex(heads[i]->oid);
  }
  if (tip.commit.empty()) {
    return NotFoundError(ref.Describe() + " does not exist in " + ctx.display +
                         (ref.kind == "branch" ? " (deleted or renamed?)" : ""));
  }
  return tip;
}

HelperOutcome HelperLsRemote(const std::string& url, const RefSpec& ref, HelperContext& ctx) {
  std::string what = "cannot list the refs of " + ctx.display;
  git_remote* raw = nullptr;
  int rc = git_remote_create_detached(&raw, url.c_str());
  RemotePtr remote(raw);
  if (rc != 0) return {HelperError(rc, what, ctx), "", false};
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  Status connected = ConnectAndList(remote.get(), ctx, what, &heads, &count);
  if (!connected.ok()) return {connected, "", false};
  StatusOr<RemoteTip> tip = FindTip(remote.get(), heads, count, ref, ctx);
  if (!tip.ok()) return {tip.status(), "", false};
  return {OkStatus(), tip->commit, false};
}

// Errors of these classes during a fetch point at the cache, not at the remote.
bool IsCacheError(int klass) {
  return klass == GIT_ERROR_ODB || klass == GIT_ERROR_OBJECT || klass == GIT_ERROR_ZLIB ||
         klass == GIT_ERROR_REPOSITORY || klass == GIT_ERROR_REFERENCE ||
         klass == GIT_ERROR_FILESYSTEM || klass == GIT_ERROR_CONFIG;
}

// A failed fetch whose cause is the cache, not the remote: the parent rebuilds it.
HelperOutcome CacheFailure(const std::string& cache, const std::string& action) {
  return HelperOutcome{InternalError("the git cache " + cache + " is damaged (" + action + ": " +
                                     LastGitMessage() + ")"),
                       "", true};
}

// Opens the bare cache, creating it on first use.
HelperOutcome OpenOrCreateCache(const std::string& cache, RepoPtr* repo) {
  git_repository* raw_repo = nullptr;
  std::error_code ec;
  if (fs::exists(cache, ec)) {
    int rc = git_repository_open_bare(&raw_repo, cache.c_str());
    repo->reset(raw_repo);
    if (rc != 0) return CacheFailure(cache, "open");
  } else {
    fs::create_directories(fs::path(cache).parent_path(), ec);
    int rc = git_repository_init(&raw_repo, cache.c_str(), /*is_bare=*/1);
    repo->reset(raw_repo);
    if (rc != 0) return CacheFailure(cache, "create");
  }
  return {};
}

// Finds the ref on the remote (so that a deleted branch is named as such) and chooses what to
// fetch: the ref itself, forced, so that a force-pushed branch replaces what the cache had; for a
// revision, every branch and tag. `local_ref` is the ref moved ("" for a revision).
HelperOutcome ChooseRefspecs(git_remote* remote, const RefSpec& ref, const std::string& what,
                             HelperContext& ctx, std::vector<std::string>* refspecs,
                             std::string* local_ref) {
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  Status connected = ConnectAndList(remote, ctx, what, &heads, &count);
  if (!connected.ok()) return {connected, "", false};
  if (ref.kind == "rev") {
    *refspecs = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
    return {};
  }
  StatusOr<RemoteTip> tip = FindTip(remote, heads, count, ref, ctx);
  if (!tip.ok()) return {tip.status(), "", false};
  *local_ref = tip->ref;
  *refspecs = {"+" + tip->ref + ":" + tip->ref};
  return {};
}

// Downloads over the open connection and moves the cache's refs.
HelperOutcome Download(git_remote* remote, std::vector<std::string> refspecs,
                       const std::string& cache, const std::string& what, HelperContext& ctx) {
  std::vector<char*> specs;
  specs.reserve(refspecs.size());
  for (std::string& s : refspecs) specs.push_back(s.data());
  git_strarray array = {specs.data(), specs.size()};
  git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
  options.callbacks.credentials = CredentialCallback;
  options.callbacks.certificate_check = CertificateCallback;
  options.callbacks.payload = &ctx;
  options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  int rc = git_remote_download(remote, &array, &options);
  if (rc == 0) {
    rc = git_remote_update_tips(remote, &options.callbacks, /*update_fetchhead=*/0,
                                GIT_REMOTE_DOWNLOAD_TAGS_NONE, "jobsync fetch");
  }
  if (rc != 0) {
    const git_error* error = git_error_last();
    if (ctx.failure.ok() && error != nullptr && IsCacheError(error->klass)) {
      return CacheFailure(cache, "fetch");
    }
    return {HelperError(rc, what, ctx), "", false};
  }
  return {};
}

// Resolves what was fetched to a commit.
HelperOutcome ResolveFetched(git_repository* repo, const RefSpec& ref, const std::string& local_ref,
                             const std::string& cache, const HelperContext& ctx) {
  git_object* raw_object = nullptr;
  std::string spec = ref.kind == "rev" ? ref.name : local_ref;
  int rc = git_revparse_single(&raw_object, repo, spec.c_str());
  ObjectPtr object(raw_object);
  if (rc != 0) {
    if (ref.kind == "rev") {
      return {
          NotFoundError("revision " + ref.name + " is not on any branch or tag of " + ctx.display),
          "", false};
    }
    return CacheFailure(cache, "resolve " + local_ref);
  }
  git_object* raw_commit = nullptr;
  rc = git_object_peel(&raw_commit, object.get(), GIT_OBJECT_COMMIT);
  ObjectPtr commit(raw_commit);
  if (rc != 0) {
    return {InvalidArgumentError(ref.Describe() + " of " + ctx.display + " is not a commit"), "",
            false};
  }
  return {OkStatus(), OidHex(*git_object_id(commit.get())), false};
}

HelperOutcome HelperFetch(const std::string& url, const RefSpec& ref, const std::string& cache,
                          HelperContext& ctx) {
  std::string what = "cannot fetch " + ref.Describe() + " of " + ctx.display;
  RepoPtr repo;
  HelperOutcome opened = OpenOrCreateCache(cache, &repo);
  if (!opened.status.ok()) return opened;
  // An in-memory remote that fetches exactly the URL given: no url.*.insteadOf rewriting from
  // the user's git config (whose lookup also leaks in libgit2 1.5) and no default refspec.
  git_remote_create_options create = GIT_REMOTE_CREATE_OPTIONS_INIT;
  create.repository = repo.get();
  create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  git_remote* raw_remote = nullptr;
  int rc = git_remote_create_with_opts(&raw_remote, url.c_str(), &create);
  RemotePtr remote(raw_remote);
  if (rc != 0) return {HelperError(rc, what, ctx), "", false};
  std::vector<std::string> refspecs;
  std::string local_ref;
  HelperOutcome chosen = ChooseRefspecs(remote.get(), ref, what, ctx, &refspecs, &local_ref);
  if (!chosen.status.ok()) return chosen;
  HelperOutcome downloaded = Download(remote.get(), std::move(refspecs), cache, what, ctx);
  if (!downloaded.status.ok() || downloaded.cache_damaged) return downloaded;
  return ResolveFetched(repo.get(), ref, local_ref, cache, ctx);
}

}  // namespace

HelperOutcome RunRemoteOp(const RemoteRequest& request) {
  HelperContext ctx;
  ctx.display = request.display;
  ctx.host = request.host;
  ctx.port = request.port;
  ctx.credentials = request.credentials;
  ctx.max_attempts = request.max_attempts;
  StatusOr<std::string> token = ReadGitToken(ctx.credentials);
  if (!token.ok()) return {token.status(), "", false};
  ctx.token = *token;
  if (!ctx.credentials.ca_file.empty() &&
      git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, ctx.credentials.ca_file.c_str(), nullptr) !=
          0) {
    return {InvalidArgumentError("cannot load the CA file " + ctx.credentials.ca_file + ": " +
                                 LastGitMessage()),
            "", false};
  }
  if (request.op == "ls-remote") return HelperLsRemote(request.url, request.ref, ctx);
  if (request.op == "fetch") return HelperFetch(request.url, request.ref, request.cache, ctx);
  return {InternalError("the git helper got an unknown operation '" + request.op + "'"), "", false};
}

}  // namespace jobsync
