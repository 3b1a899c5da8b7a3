// The libgit2 adapter: every libgit2 (and libssh2 known_hosts) call of jobsync is in this file,
// and every libgit2 error is converted here into a scrubbed Status.
//
// Network operations (ls-remote, fetch) run in a child process, the jobsync binary re-executed
// with kGitHelperCommand, that the parent kills when the network timeout passes. libgit2 1.5 has
// no network timeout and offers no way to interrupt a blocked read: a thread could not be
// stopped, and fork() of a process that may already run threads (the agent's HTTP server, a
// watch) can copy locks held by other threads into a child that then deadlocks. posix_spawn of
// our own binary starts a clean process whatever the parent runs, and SIGKILL always stops it.
// The request travels on the child's stdin (URLs may carry a password; argv is public in ps),
// the outcome comes back as one JSON line on its stdout. Tokens are read from their file or
// environment variable by whichever process needs them, so they never cross the pipe.
#include "agent/git/git_source.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <utility>

#include <git2.h>
#include <libssh2.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/git/local_repo.h"
#include "common/secrets.h"

extern char** environ;  // NOLINT(readability-redundant-declaration): handed to posix_spawn

namespace jobsync {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Owning pointers for libgit2 objects.
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

// Keeps libgit2's global state alive while an instance exists (libgit2 counts the calls).
class LibGit2 {
 public:
  LibGit2() { git_libgit2_init(); }
  ~LibGit2() { git_libgit2_shutdown(); }
  LibGit2(const LibGit2&) = delete;
  LibGit2& operator=(const LibGit2&) = delete;
};

std::string OidHex(const git_oid& oid) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof(hex), &oid);
  return hex;
}

bool IsFullCommitId(std::string_view text) {
  return text.size() == GIT_OID_HEXSZ &&
         std::all_of(text.begin(), text.end(), [](char c) { return std::isxdigit(c) != 0; });
}

std::string LastGitMessage() {
  const git_error* error = git_error_last();
  return error != nullptr && error->message != nullptr ? error->message : "unknown libgit2 error";
}

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

}  // namespace

// The token for HTTPS, read fresh for each operation so that rotated secrets are picked up.
// Empty when none is configured.
StatusOr<std::string> ReadGitToken(const GitCredentials& credentials) {
  if (!credentials.token_file.empty()) {
    std::ifstream in(credentials.token_file, std::ios::binary);
    std::string token;
    if (!in.is_open() || !std::getline(in, token)) {
      return InvalidArgumentError("cannot read the token file " + credentials.token_file);
    }
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
      token.pop_back();
    }
    if (token.empty()) {
      return InvalidArgumentError("the token file " + credentials.token_file + " is empty");
    }
    return token;
  }
  if (!credentials.token_env.empty()) {
    const char* value = std::getenv(credentials.token_env.c_str());
    if (value == nullptr || *value == '\0') {
      return InvalidArgumentError("the environment variable " + credentials.token_env +
                                  " (--token-env) is not set");
    }
    return std::string(value);
  }
  return std::string();
}

namespace {

std::string TokenSourceName(const GitCredentials& credentials) {
  if (!credentials.token_file.empty()) return "the token in file " + credentials.token_file;
  return "the token in environment variable " + credentials.token_env;
}

std::string FormatSeconds(std::chrono::milliseconds duration) {
  std::ostringstream out;
  out << static_cast<double>(duration.count()) / 1000.0 << "s";
  return out.str();
}

// ---------------------------------------------------------------------------------------------
// The child process: one network operation per run.

// Which ref a request is about.
struct RefSpec {
  std::string kind;  // "default", "branch", "tag", "rev"
  std::string name;

  std::string Describe() const {
    if (kind == "default") return "the default branch";
    return kind + " " + name;
  }
};

// State shared with libgit2's callbacks during one network operation.
struct HelperContext {
  std::string display;
  std::string host;
  int port = 0;
  GitCredentials credentials;
  std::string token;
  int max_attempts = 3;
  int attempts = 0;
  std::string auth_hint;  // what to check when the credentials offered last are refused
  Status failure;         // set by a callback that refused to go on; wins over libgit2's message
};

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

// libgit2 calls this again after each rejection, so attempts are counted and bounded.
int CredentialCallback(git_credential** out, const char* /*url*/, const char* username_from_url,
                       unsigned int allowed_types, void* payload) {
  auto* ctx = static_cast<HelperContext*>(payload);
  const char* user =
      username_from_url != nullptr && *username_from_url != '\0' ? username_from_url : "git";
  if ((allowed_types & (GIT_CREDENTIAL_SSH_KEY | GIT_CREDENTIAL_USERPASS_PLAINTEXT)) == 0 &&
      (allowed_types & GIT_CREDENTIAL_USERNAME) != 0) {
    return git_credential_username_new(out, user);
  }
  const bool ssh = (allowed_types & GIT_CREDENTIAL_SSH_KEY) != 0;
  const GitCredentials& c = ctx->credentials;
  if (ssh && c.ssh_key_file.empty()) {
    ctx->failure = PermissionDeniedError(ctx->display +
                                         " asks for an SSH key: pass --ssh-key with a private key "
                                         "file (ed25519 or ecdsa)");
    return GIT_EUSER;
  }
  if (!ssh && (allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 && ctx->token.empty()) {
    ctx->failure = PermissionDeniedError(ctx->display +
                                         " asks for credentials: pass --token-file or --token-env");
    return GIT_EUSER;
  }
  ctx->auth_hint = ssh ? "check that the key " + c.ssh_key_file + " is authorized for user " +
                             user + " on the server"
                       : "check " + TokenSourceName(c);
  if (++ctx->attempts > ctx->max_attempts) {
    ctx->failure =
        PermissionDeniedError("authentication failed for " + ctx->display + " after " +
                              std::to_string(ctx->max_attempts) + " attempts: " + ctx->auth_hint);
    return GIT_EUSER;
  }
  if (ssh) {
    std::string public_key = c.ssh_key_file + ".pub";
    bool has_public = fs::exists(public_key);
    return git_credential_ssh_key_new(out, user, has_public ? public_key.c_str() : nullptr,
                                      c.ssh_key_file.c_str(), nullptr);
  }
  if ((allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0) {
    return git_credential_userpass_plaintext_new(out, user, ctx->token.c_str());
  }
  ctx->failure = PermissionDeniedError(ctx->display +
                                       " asks for an authentication method jobsync does not offer");
  return GIT_EUSER;
}

int KnownHostKeyType(git_cert_ssh_raw_type_t type) {
  switch (type) {
    case GIT_CERT_SSH_RAW_TYPE_RSA:
      return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
    case GIT_CERT_SSH_RAW_TYPE_DSS:
      return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521:
      return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519:
      return LIBSSH2_KNOWNHOST_KEY_ED25519;
    case GIT_CERT_SSH_RAW_TYPE_UNKNOWN:
      break;
  }
  return 0;
}

// Checks an SSH host key against the known_hosts file (plain and hashed entries, [host]:port).
Status CheckKnownHost(const git_cert_hostkey& key, const HelperContext& ctx) {
  std::string file = ctx.credentials.known_hosts_file;
  if (file.empty()) {
    const char* home = std::getenv("HOME");
    file = std::string(home != nullptr ? home : "") + "/.ssh/known_hosts";
  }
  std::string shown_host =
      ctx.port == 0 || ctx.port == 22 ? ctx.host : "[" + ctx.host + "]:" + std::to_string(ctx.port);
  std::string add_hint = "add it (ssh-keyscan" +
                         (ctx.port == 0 ? std::string() : " -p " + std::to_string(ctx.port)) + " " +
                         ctx.host + " >> " + file +
                         ", after checking the fingerprint) or pass --insecure-ignore-host-key";
  if ((key.type & GIT_CERT_SSH_RAW) == 0) {
    return PermissionDeniedError("the SSH host key of " + shown_host + " cannot be checked");
  }
  LIBSSH2_SESSION* session = libssh2_session_init();
  if (session == nullptr) return InternalError("libssh2_session_init failed");
  LIBSSH2_KNOWNHOSTS* hosts = libssh2_knownhost_init(session);
  Status result;
  if (hosts == nullptr) {
    result = InternalError("libssh2_knownhost_init failed");
  } else if (libssh2_knownhost_readfile(hosts, file.c_str(), LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
    result = PermissionDeniedError("cannot read the known_hosts file " + file +
                                   " to check the host key of " + shown_host + ": " + add_hint);
  } else {
    struct libssh2_knownhost* found = nullptr;
    int type_mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
                    KnownHostKeyType(key.raw_type);
    int check = libssh2_knownhost_checkp(hosts, ctx.host.c_str(), ctx.port == 0 ? 22 : ctx.port,
                                         key.hostkey, key.hostkey_len, type_mask, &found);
    if (check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH) {
      result = PermissionDeniedError("the SSH host key of " + shown_host +
                                     " does not match the one in " + file +
                                     ": the host was reinstalled, or someone is impersonating it");
    } else if (check != LIBSSH2_KNOWNHOST_CHECK_MATCH) {
      result = PermissionDeniedError("the SSH host key of " + shown_host + " is not in " + file +
                                     ": " + add_hint);
    }
  }
  if (hosts != nullptr) libssh2_knownhost_free(hosts);
  libssh2_session_free(session);
  return result;
}

int CertificateCallback(git_cert* cert, int valid, const char* host, void* payload) {
  auto* ctx = static_cast<HelperContext*>(payload);
  if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2) {
    if (ctx->credentials.insecure_ignore_host_key) return 0;
    ctx->failure = CheckKnownHost(*reinterpret_cast<const git_cert_hostkey*>(cert), *ctx);
    return ctx->failure.ok() ? 0 : GIT_EUSER;
  }
  if (valid != 0) return 0;
  ctx->failure = PermissionDeniedError(
      "the TLS certificate of " + std::string(host != nullptr ? host : ctx->host) +
      " is not trusted (" + ctx->display + "): pass --ca-file with the CA that signed it");
  return GIT_EUSER;
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

struct HelperOutcome {
  Status status;
  std::string commit;
  bool cache_damaged = false;
};

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

HelperOutcome HelperFetch(const std::string& url, const RefSpec& ref, const std::string& cache,
                          HelperContext& ctx) {
  std::string what = "cannot fetch " + ref.Describe() + " of " + ctx.display;
  auto cache_failure = [&](const std::string& action) {
    return HelperOutcome{InternalError("the git cache " + cache + " is damaged (" + action + ": " +
                                       LastGitMessage() + ")"),
                         "", true};
  };
  git_repository* raw_repo = nullptr;
  std::error_code ec;
  int rc = 0;
  if (fs::exists(cache, ec)) {
    rc = git_repository_open_bare(&raw_repo, cache.c_str());
    if (rc != 0) return cache_failure("open");
  } else {
    fs::create_directories(fs::path(cache).parent_path(), ec);
    rc = git_repository_init(&raw_repo, cache.c_str(), /*is_bare=*/1);
    if (rc != 0) return cache_failure("create");
  }
  RepoPtr repo(raw_repo);
  // An in-memory remote that fetches exactly the URL given: no url.*.insteadOf rewriting from
  // the user's git config (whose lookup also leaks in libgit2 1.5) and no default refspec.
  git_remote_create_options create = GIT_REMOTE_CREATE_OPTIONS_INIT;
  create.repository = repo.get();
  create.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  git_remote* raw_remote = nullptr;
  rc = git_remote_create_with_opts(&raw_remote, url.c_str(), &create);
  RemotePtr remote(raw_remote);
  if (rc != 0) return {HelperError(rc, what, ctx), "", false};

  // 1. Find the ref on the remote, so that a deleted branch is named as such.
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  Status connected = ConnectAndList(remote.get(), ctx, what, &heads, &count);
  if (!connected.ok()) return {connected, "", false};
  std::vector<std::string> refspecs;
  std::string local_ref;
  if (ref.kind == "rev") {
    refspecs = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
  } else {
    StatusOr<RemoteTip> tip = FindTip(remote.get(), heads, count, ref, ctx);
    if (!tip.ok()) return {tip.status(), "", false};
    local_ref = tip->ref;
    // Forced: a force-pushed branch replaces what the cache had.
    refspecs = {"+" + tip->ref + ":" + tip->ref};
  }

  // 2. Download over the open connection and move the cache's refs.
  std::vector<char*> specs;
  specs.reserve(refspecs.size());
  for (std::string& s : refspecs) specs.push_back(s.data());
  git_strarray array = {specs.data(), specs.size()};
  git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
  options.callbacks.credentials = CredentialCallback;
  options.callbacks.certificate_check = CertificateCallback;
  options.callbacks.payload = &ctx;
  options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  rc = git_remote_download(remote.get(), &array, &options);
  if (rc == 0) {
    rc = git_remote_update_tips(remote.get(), &options.callbacks, /*update_fetchhead=*/0,
                                GIT_REMOTE_DOWNLOAD_TAGS_NONE, "jobsync fetch");
  }
  if (rc != 0) {
    const git_error* error = git_error_last();
    if (ctx.failure.ok() && error != nullptr && IsCacheError(error->klass)) {
      return cache_failure("fetch");
    }
    return {HelperError(rc, what, ctx), "", false};
  }

  // 3. Resolve what was fetched to a commit.
  git_object* raw_object = nullptr;
  std::string spec = ref.kind == "rev" ? ref.name : local_ref;
  rc = git_revparse_single(&raw_object, repo.get(), spec.c_str());
  ObjectPtr object(raw_object);
  if (rc != 0) {
    if (ref.kind == "rev") {
      return {
          NotFoundError("revision " + ref.name + " is not on any branch or tag of " + ctx.display),
          "", false};
    }
    return cache_failure("resolve " + local_ref);
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

// ---------------------------------------------------------------------------------------------
// The parent: runs the child with a deadline.

// Removes lock files a killed fetch may have left, so that the next fetch can take them.
void RemoveStaleLocks(const std::string& cache) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(cache, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".lock") fs::remove(it->path(), ec);
  }
}

struct ChildOutput {
  std::string stdout_text;  // the reply line, or what the child wrote before it ended
  bool timed_out = false;
  int wait_status = 0;  // when the child ended without a reply
};

// The helper child, kept running between network operations: starting the jobsync binary costs
// more CPU than a local ls-remote does (about 8 ms of dynamic linking and start-up, measured in
// bench/), and the agent asks every cycle. Requests and replies are JSON lines over a socket pair;
// the parent sends with MSG_NOSIGNAL, so a helper that died cannot raise SIGPIPE in the agent. A
// request that passes its deadline kills the child; the next request starts a new one.
class HelperProcess {
 public:
  explicit HelperProcess(std::string binary) : binary_(std::move(binary)) {}
  // Closes the socket: the child reads the end of its input and exits; one that lingers is killed.
  ~HelperProcess() { Stop(/*kill_now=*/false); }
  HelperProcess(const HelperProcess&) = delete;
  HelperProcess& operator=(const HelperProcess&) = delete;

  // Sends `request` (one line of JSON) and returns the reply line, or timed_out when `timeout`
  // passed first.
  StatusOr<ChildOutput> Call(const std::string& request, std::chrono::milliseconds timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    const std::string line = request + "\n";
    // A child that ended since the last call (it should not, but may) is started again, once.
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (pid_ < 0) JOBSYNC_RETURN_IF_ERROR(Start());
      if (SendAll(line)) break;
      Stop(/*kill_now=*/true);
      if (attempt == 1) return InternalError("cannot send a request to the git helper " + binary_);
    }
    ChildOutput output;
    while (true) {
      size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        output.stdout_text = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return output;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd fd = {fd_, POLLIN, 0};
      int ready = left.count() <= 0 ? 0 : poll(&fd, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) {
        output.timed_out = true;
        Stop(/*kill_now=*/true);
        return output;
      }
      char chunk[4096];
      ssize_t n = ready < 0 ? -1 : recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || buffer_.size() > (1u << 20)) {  // the child ended, or babbles
        output.stdout_text = buffer_;
        output.wait_status = Stop(/*kill_now=*/n > 0);
        return output;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  int64_t starts() const { return starts_; }

 private:
  Status Start() {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      return InternalError("socketpair: " + std::string(strerror(errno)));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pair[1], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, pair[1], STDOUT_FILENO);
    // The agent blocks SIGTERM and SIGINT in its threads to take them with sigwait; the helper
    // starts with an empty mask so that it can be stopped like any process.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t empty;
    sigemptyset(&empty);
    posix_spawnattr_setsigmask(&attributes, &empty);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
    std::string arg0 = binary_;
    std::string arg1 = kGitHelperCommand;
    char* argv[] = {arg0.data(), arg1.data(), nullptr};
    pid_t pid = 0;
    int rc = posix_spawn(&pid, binary_.c_str(), &actions, &attributes, argv, environ);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    close(pair[1]);
    if (rc != 0) {
      close(pair[0]);
      return InternalError("cannot start the git helper " + binary_ + ": " + strerror(rc));
    }
    pid_ = pid;
    fd_ = pair[0];
    buffer_.clear();
    ++starts_;
    return OkStatus();
  }

  bool SendAll(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Ends the child (at once, or by closing its input and waiting up to a second) and reaps it;
  // returns its wait status.
  int Stop(bool kill_now) {
    if (pid_ < 0) return 0;
    if (kill_now) kill(pid_, SIGKILL);
    close(fd_);
    fd_ = -1;
    int status = 0;
    for (int waited_ms = 0;; waited_ms += 5) {
      pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_ || (done < 0 && errno != EINTR)) break;
      if (waited_ms == 1000) kill(pid_, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
    buffer_.clear();
    return status;
  }

  std::string binary_;
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string buffer_;  // bytes received after the last reply line
  int64_t starts_ = 0;
};

StatusCode CodeFromInt(int code) {
  if (code <= static_cast<int>(StatusCode::kOk) || code > static_cast<int>(StatusCode::kInternal)) {
    return StatusCode::kInternal;
  }
  return static_cast<StatusCode>(code);
}

std::string ReadSelfExe() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : self.string();
}

bool IsManifestPath(std::string_view path) {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
  };
  if (!ends_with(".yaml") && !ends_with(".yml")) return false;
  size_t begin = 0;
  while (begin < path.size()) {
    if (path[begin] == '.') return false;  // a hidden file or folder
    size_t slash = path.find('/', begin);
    if (slash == std::string_view::npos) break;
    begin = slash + 1;
  }
  return true;
}

bool IsBlobMode(uint32_t mode) {
  return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE;
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

// Parsed manifest files by path, shared with the blob cache.
using FileMap = std::map<std::string, std::shared_ptr<const ManifestFile>>;

// GitSource over libgit2, with network operations in a child process. See GitSource.
class LibGitSource final : public GitSource {
 public:
  LibGitSource(GitSourceOptions options, RemoteUrl url, std::string cache_dir,
               const SchemaValidator& validator)
      : options_(std::move(options)),
        url_(std::move(url)),
        // A local path as an absolute one: "." would name nothing in a message.
        display_url_(url_.scheme == "path" ? url_.location : ScrubSecrets(options_.repo)),
        cache_dir_(std::move(cache_dir)),
        validator_(validator) {}

  // GitSource:
  StatusOr<std::string> CheckForChange() override;
  StatusOr<std::string> Fetch() override;
  StatusOr<Snapshot> LoadAt(const std::string& commit) override;
  StatusOr<std::vector<CommitInfo>> FirstParentLog(const std::string& commit,
                                                   size_t max_count) override;
  const std::string& display_url() const override { return display_url_; }
  GitSourceStats stats() const override { return stats_; }

 private:
  // True when --repo is a local path: its own refs and objects are read in place (local_repo.h)
  // and there is no cache to fetch into, verify or rebuild.
  bool local() const { return url_.scheme == "path"; }
  // Resolves the followed ref in the local repository, reopened so that new commits are seen.
  StatusOr<std::string> ResolveLocal();
  RefSpec Ref() const;
  // Runs one operation ("ls-remote" or "fetch") in the helper process, within the timeout.
  HelperOutcome RunNetworkOp(const std::string& op);
  Status OpenCache();
  // Checks that the commit, its trees and the headers of its manifest blobs under the path can
  // be read: a fetch trusts the objects the cache claims to have, which a damaged cache may not.
  Status VerifyCommit(const std::string& commit_id);
  void RebuildCache(const std::string& reason);
  // A Status for a failed read from the cache; marks the cache for a rebuild on the next fetch.
  Status CacheReadError(const std::string& what);
  Status ScanTree(const git_tree* tree, FileMap& files);
  Status ApplyDiff(const git_tree* old_tree, const git_tree* new_tree, FileMap& files);
  StatusOr<std::shared_ptr<const ManifestFile>> ParseBlob(const git_oid& blob,
                                                          const std::string& relative_path);
  std::string FullPath(const std::string& relative_path) const;
  void TrimParseCache();

  LibGit2 libgit2_;
  GitSourceOptions options_;
  RemoteUrl url_;
  std::string display_url_;
  std::string cache_dir_;
  const SchemaValidator& validator_;
  RepoPtr repo_;                // the cache, opened lazily; closed when a fetch changed it
  bool cache_suspect_ = false;  // a read failed: rebuild before the next fetch
  // The tree (under --path) of the last LoadAt and its files, the base of the next diff.
  std::optional<git_oid> loaded_tree_;
  FileMap loaded_files_;
  // Parsed files by "<blob id>:<path>": the path is part of the key because messages name it.
  std::unordered_map<std::string, std::shared_ptr<const ManifestFile>> parse_cache_;
  std::unique_ptr<HelperProcess> helper_;  // started by the first network operation
  GitSourceStats stats_;
};

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
  const GitCredentials& c = options_.credentials;
  RefSpec ref = Ref();
  nlohmann::json request = {
      {"op", op},
      {"url", url_.location},
      {"display", display_url_},
      {"host", url_.host},
      {"port", url_.port},
      {"ref_kind", ref.kind},
      {"ref", ref.name},
      {"cache", cache_dir_},
      {"ssh_key_file", c.ssh_key_file},
      {"known_hosts_file", c.known_hosts_file},
      {"insecure_ignore_host_key", c.insecure_ignore_host_key},
      {"token_file", c.token_file},
      {"token_env", c.token_env},
      {"ca_file", c.ca_file},
      {"max_attempts", options_.max_credential_attempts},
  };
  if (!helper_) helper_ = std::make_unique<HelperProcess>(options_.helper_binary);
  StatusOr<ChildOutput> child = helper_->Call(request.dump(), options_.network_timeout);
  stats_.helper_starts = helper_->starts();
  if (!child.ok()) return {child.status(), "", false};
  if (child->timed_out) {
    if (op == "fetch") RemoveStaleLocks(cache_dir_);
    return {DeadlineExceededError("git " + op + " of " + display_url_ + " did not finish within " +
                                  FormatSeconds(options_.network_timeout) +
                                  " (--git-timeout): the remote is slow or not answering"),
            "", false};
  }
  nlohmann::json reply = nlohmann::json::parse(child->stdout_text, nullptr, false);
  if (reply.is_discarded() || !reply.is_object() || !reply.contains("ok")) {
    std::string how = WIFSIGNALED(child->wait_status)
                          ? "was killed by signal " + std::to_string(WTERMSIG(child->wait_status))
                          : "exited with status " + std::to_string(WEXITSTATUS(child->wait_status));
    return {InternalError("the git helper " + options_.helper_binary + " " + how +
                          " without an answer during " + op + " of " + display_url_),
            "", false};
  }
  HelperOutcome outcome;
  outcome.cache_damaged = reply.value("cache_damaged", false);
  if (reply.value("ok", false)) {
    outcome.commit = reply.value("commit", "");
  } else {
    outcome.status = Status(CodeFromInt(reply.value("code", 0)),
                            ScrubSecrets(reply.value("message", ""), secrets));
  }
  return outcome;
}

StatusOr<std::string> LibGitSource::ResolveLocal() {
  repo_.reset();
  JOBSYNC_RETURN_IF_ERROR(OpenCache());
  RefSpec ref = Ref();
  return ResolveLocalRevision(repo_.get(), ref.kind, ref.name, display_url_);
}

StatusOr<std::string> LibGitSource::CheckForChange() {
  if (local()) {
    ++stats_.remote_checks;
    return ResolveLocal();
  }
  RefSpec ref = Ref();
  if (ref.kind == "rev") {
    if (IsFullCommitId(ref.name)) return ref.name;
    if (OpenCache().ok()) {
      git_object* raw = nullptr;
      if (git_revparse_single(&raw, repo_.get(), ref.name.c_str()) == 0) {
        ObjectPtr object(raw);
        git_object* raw_commit = nullptr;
        if (git_object_peel(&raw_commit, object.get(), GIT_OBJECT_COMMIT) == 0) {
          ObjectPtr commit(raw_commit);
          return OidHex(*git_object_id(commit.get()));
        }
      }
    }
    return ref.name;
  }
  ++stats_.remote_checks;
  HelperOutcome outcome = RunNetworkOp("ls-remote");
  if (!outcome.status.ok()) return outcome.status;
  return outcome.commit;
}

StatusOr<std::string> LibGitSource::Fetch() {
  if (local()) return ResolveLocal();
  if (cache_suspect_) RebuildCache("a read from it failed");
  for (int attempt = 0;; ++attempt) {
    ++stats_.fetches;
    repo_.reset();  // the child changes the cache; reopen it afterwards
    HelperOutcome outcome = RunNetworkOp("fetch");
    if (outcome.status.ok()) {
      Status readable = VerifyCommit(outcome.commit);
      if (readable.ok()) return outcome.commit;
      outcome.status = readable;
      outcome.cache_damaged = true;
    }
    if (!outcome.cache_damaged || attempt > 0) return outcome.status;
    RebuildCache(outcome.status.message());
  }
}

Status LibGitSource::OpenCache() {
  if (repo_ != nullptr) return OkStatus();
  git_repository* raw = nullptr;
  if (local()) {
    JOBSYNC_RETURN_IF_ERROR(OpenLocalRepository(url_.location, &raw));
    repo_.reset(raw);
    return OkStatus();
  }
  if (git_repository_open_bare(&raw, cache_dir_.c_str()) != 0) {
    return NotFoundError("no git cache for " + display_url_ + " at " + cache_dir_ +
                         ": fetch first (" + LastGitMessage() + ")");
  }
  repo_.reset(raw);
  return OkStatus();
}

Status LibGitSource::VerifyCommit(const std::string& commit_id) {
  JOBSYNC_RETURN_IF_ERROR(OpenCache());
  auto damaged = [&](const std::string& what) {
    return InternalError("the git cache " + cache_dir_ + " is damaged (" + what + " of commit " +
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
  GitPtr<git_odb, git_odb_free> odb(raw_odb);
  struct Walk {
    git_odb* odb;
    std::string prefix;  // --path with a trailing slash, or empty
    bool failed = false;
  } walk{odb.get(), options_.path.empty() ? "" : options_.path + "/"};
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

void LibGitSource::RebuildCache(const std::string& reason) {
  spdlog::warn("git cache {} of {} is damaged ({}); deleting it and cloning again", cache_dir_,
               display_url_, ScrubSecrets(reason));
  repo_.reset();
  std::error_code ec;
  fs::remove_all(cache_dir_, ec);
  ++stats_.cache_rebuilds;
  cache_suspect_ = false;
}

Status LibGitSource::CacheReadError(const std::string& what) {
  if (local()) return InternalError(what + " in " + display_url_ + ": " + LastGitMessage());
  cache_suspect_ = true;
  return InternalError(what + " in the git cache " + cache_dir_ + ": " + LastGitMessage() +
                       "; the cache will be rebuilt on the next fetch");
}

std::string LibGitSource::FullPath(const std::string& relative_path) const {
  if (options_.path.empty()) return relative_path;
  return options_.path + "/" + relative_path;
}

StatusOr<std::shared_ptr<const ManifestFile>> LibGitSource::ParseBlob(
    const git_oid& blob_id, const std::string& relative_path) {
  std::string path = FullPath(relative_path);
  std::string key = OidHex(blob_id) + ":" + path;
  auto cached = parse_cache_.find(key);
  if (cached != parse_cache_.end()) {
    ++stats_.parse_cache_hits;
    return cached->second;
  }
  git_blob* raw = nullptr;
  if (git_blob_lookup(&raw, repo_.get(), &blob_id) != 0) {
    return CacheReadError("cannot read " + path + " (blob " + OidHex(blob_id) + ")");
  }
  BlobPtr blob(raw);
  std::string_view text(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                        static_cast<size_t>(git_blob_rawsize(blob.get())));
  auto file = std::make_shared<const ManifestFile>(
      ParseManifestFile(path, text, validator_, options_.yaml_limits));
  ++stats_.files_parsed;
  parse_cache_.emplace(key, file);
  return file;
}

Status LibGitSource::ScanTree(const git_tree* tree, FileMap& files) {
  std::vector<std::pair<git_oid, std::string>> blobs;
  auto callback = [](const char* root, const git_tree_entry* entry, void* payload) -> int {
    auto* found = static_cast<std::vector<std::pair<git_oid, std::string>>*>(payload);
    std::string name = git_tree_entry_name(entry);
    if (name.empty() || name[0] == '.') return 1;  // skip hidden entries and what they hold
    if (!IsBlobMode(git_tree_entry_filemode(entry))) return 0;
    std::string path = std::string(root) + name;
    if (IsManifestPath(path)) found->emplace_back(*git_tree_entry_id(entry), path);
    return 0;
  };
  if (git_tree_walk(tree, GIT_TREEWALK_PRE, callback, &blobs) != 0) {
    return CacheReadError("cannot walk a tree");
  }
  files.clear();
  for (const auto& [oid, path] : blobs) {
    StatusOr<std::shared_ptr<const ManifestFile>> file = ParseBlob(oid, path);
    if (!file.ok()) return file.status();
    files[FullPath(path)] = *file;
  }
  return OkStatus();
}

Status LibGitSource::ApplyDiff(const git_tree* old_tree, const git_tree* new_tree, FileMap& files) {
  git_diff* raw = nullptr;
  git_diff_options options = GIT_DIFF_OPTIONS_INIT;
  // git_diff_tree_to_tree takes non-const trees but only reads them.
  if (git_diff_tree_to_tree(&raw, repo_.get(), const_cast<git_tree*>(old_tree),
                            const_cast<git_tree*>(new_tree), &options) != 0) {
    return CacheReadError("cannot compare trees");
  }
  DiffPtr diff(raw);
  size_t count = git_diff_num_deltas(diff.get());
  for (size_t i = 0; i < count; ++i) {
    const git_diff_delta* delta = git_diff_get_delta(diff.get(), i);
    if (delta->status != GIT_DELTA_ADDED && delta->old_file.path != nullptr) {
      files.erase(FullPath(delta->old_file.path));
    }
    if (delta->status == GIT_DELTA_DELETED || delta->new_file.path == nullptr) continue;
    std::string path = delta->new_file.path;
    if (!IsBlobMode(delta->new_file.mode) || !IsManifestPath(path)) continue;
    StatusOr<std::shared_ptr<const ManifestFile>> file = ParseBlob(delta->new_file.id, path);
    if (!file.ok()) return file.status();
    files[FullPath(path)] = *file;
  }
  return OkStatus();
}

void LibGitSource::TrimParseCache() {
  if (parse_cache_.size() <= options_.parse_cache_entries) return;
  std::unordered_map<std::string, std::shared_ptr<const ManifestFile>> kept;
  for (const auto& [key, file] : parse_cache_) {
    auto live = loaded_files_.find(file->path);
    if (live != loaded_files_.end() && live->second == file) kept.emplace(key, file);
  }
  parse_cache_ = std::move(kept);
}

StatusOr<Snapshot> LibGitSource::LoadAt(const std::string& commit_id) {
  JOBSYNC_RETURN_IF_ERROR(OpenCache());
  git_oid oid;
  if (!IsFullCommitId(commit_id) || git_oid_fromstr(&oid, commit_id.c_str()) != 0) {
    return InvalidArgumentError("'" + commit_id + "' is not a full commit id");
  }
  git_commit* raw_commit = nullptr;
  int rc = git_commit_lookup(&raw_commit, repo_.get(), &oid);
  CommitPtr commit(raw_commit);
  if (rc == GIT_ENOTFOUND) {
    return NotFoundError("commit " + commit_id +
                         (local() ? " is not in " : " is not in the cache of ") + display_url_ +
                         ": fetch it first");
  }
  if (rc != 0) return CacheReadError("cannot read commit " + commit_id);
  git_tree* raw_root = nullptr;
  if (git_commit_tree(&raw_root, commit.get()) != 0) {
    return CacheReadError("cannot read the tree of commit " + commit_id);
  }
  TreePtr root(raw_root);
  TreePtr tree;
  if (options_.path.empty()) {
    tree = std::move(root);
  } else {
    git_tree_entry* raw_entry = nullptr;
    rc = git_tree_entry_bypath(&raw_entry, root.get(), options_.path.c_str());
    TreeEntryPtr entry(raw_entry);
    if (rc == GIT_ENOTFOUND) {
      return NotFoundError("--path " + options_.path + " does not exist at commit " +
                           commit_id.substr(0, 7) + " of " + display_url_);
    }
    if (rc != 0) return CacheReadError("cannot read " + options_.path);
    if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) {
      return InvalidArgumentError("--path " + options_.path + " at commit " +
                                  commit_id.substr(0, 7) + " of " + display_url_ +
                                  " is a file, not a folder");
    }
    git_tree* raw_tree = nullptr;
    if (git_tree_lookup(&raw_tree, repo_.get(), git_tree_entry_id(entry.get())) != 0) {
      return CacheReadError("cannot read the tree of " + options_.path);
    }
    tree.reset(raw_tree);
  }

  // Parse only what changed since the last load: diff the trees when the old one is still
  // readable (a rebuilt cache may have lost it), else read the whole tree.
  const git_oid* tree_id = git_tree_id(tree.get());
  FileMap files = loaded_files_;
  git_tree* raw_old = nullptr;
  if (loaded_tree_ && git_oid_equal(&*loaded_tree_, tree_id) != 0) {
    // Same tree: same files.
  } else if (loaded_tree_ && git_tree_lookup(&raw_old, repo_.get(), &*loaded_tree_) == 0) {
    TreePtr old_tree(raw_old);
    JOBSYNC_RETURN_IF_ERROR(ApplyDiff(old_tree.get(), tree.get(), files));
  } else {
    JOBSYNC_RETURN_IF_ERROR(ScanTree(tree.get(), files));
  }
  loaded_tree_ = *tree_id;
  loaded_files_ = std::move(files);
  TrimParseCache();

  Snapshot snapshot;
  snapshot.commit = CommitInfoOf(commit.get());
  std::vector<const ManifestFile*> manifest_files;
  manifest_files.reserve(loaded_files_.size());
  for (const auto& [path, file] : loaded_files_) manifest_files.push_back(file.get());
  snapshot.manifests = CheckManifests(manifest_files);
  return snapshot;
}

StatusOr<std::vector<CommitInfo>> LibGitSource::FirstParentLog(const std::string& commit_id,
                                                               size_t max_count) {
  JOBSYNC_RETURN_IF_ERROR(OpenCache());
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
    int rc = git_commit_lookup(&raw_commit, repo_.get(), &next);
    CommitPtr commit(raw_commit);
    if (rc == GIT_ENOTFOUND && log.empty()) {
      return NotFoundError("commit " + commit_id +
                           (local() ? " is not in " : " is not in the cache of ") + display_url_);
    }
    if (rc == GIT_ENOTFOUND && local() && IsShallowRepository(repo_.get())) break;
    if (rc != 0) return CacheReadError("cannot read commit " + OidHex(next));
    log.push_back(CommitInfoOf(commit.get()));
    if (git_commit_parentcount(commit.get()) == 0) break;
    next = *git_commit_parent_id(commit.get(), 0);
  }
  return log;
}

}  // namespace

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
  git_oid key_hash;
  LibGit2 libgit2;
  if (git_odb_hash(&key_hash, url->cache_key.data(), url->cache_key.size(), GIT_OBJECT_BLOB) != 0) {
    return InternalError("cannot hash the repository URL: " + LastGitMessage());
  }
  std::string cache_dir = (fs::path(options.cache_root) / OidHex(key_hash)).string();
  return std::unique_ptr<GitSource>(
      new LibGitSource(std::move(options), std::move(*url), std::move(cache_dir), validator));
}

namespace {

// One request of the helper: parses it, runs it, writes the reply line.
int RunGitHelperRequest(const std::string& text, std::ostream& out) {
  nlohmann::json request = nlohmann::json::parse(text, nullptr, false);
  auto reply = [&](const HelperOutcome& outcome) {
    nlohmann::json answer = {{"ok", outcome.status.ok()},
                             {"code", static_cast<int>(outcome.status.code())},
                             {"message", outcome.status.message()},
                             {"commit", outcome.commit},
                             {"cache_damaged", outcome.cache_damaged}};
    out << answer.dump() << "\n" << std::flush;
    return 0;
  };
  if (request.is_discarded() || !request.is_object()) {
    return reply({InternalError("the git helper got a malformed request"), "", false});
  }
  HelperContext ctx;
  ctx.display = request.value("display", "");
  ctx.host = request.value("host", "");
  ctx.port = request.value("port", 0);
  ctx.credentials.ssh_key_file = request.value("ssh_key_file", "");
  ctx.credentials.known_hosts_file = request.value("known_hosts_file", "");
  ctx.credentials.insecure_ignore_host_key = request.value("insecure_ignore_host_key", false);
  ctx.credentials.token_file = request.value("token_file", "");
  ctx.credentials.token_env = request.value("token_env", "");
  ctx.credentials.ca_file = request.value("ca_file", "");
  ctx.max_attempts = request.value("max_attempts", 3);
  StatusOr<std::string> token = ReadGitToken(ctx.credentials);
  if (!token.ok()) return reply({token.status(), "", false});
  ctx.token = *token;
  if (!ctx.credentials.ca_file.empty() &&
      git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, ctx.credentials.ca_file.c_str(), nullptr) !=
          0) {
    return reply({InvalidArgumentError("cannot load the CA file " + ctx.credentials.ca_file + ": " +
                                       LastGitMessage()),
                  "", false});
  }
  RefSpec ref{request.value("ref_kind", "default"), request.value("ref", "")};
  std::string url = request.value("url", "");
  std::string op = request.value("op", "");
  if (op == "ls-remote") return reply(HelperLsRemote(url, ref, ctx));
  if (op == "fetch") return reply(HelperFetch(url, ref, request.value("cache", ""), ctx));
  return reply({InternalError("the git helper got an unknown operation '" + op + "'"), "", false});
}

}  // namespace

int RunGitHelper(std::istream& in, std::ostream& out) {
  // One JSON request per line, one reply line each, until the parent closes the socket.
  LibGit2 libgit2;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) RunGitHelperRequest(line, out);
  }
  return 0;
}

}  // namespace jobsync
