// Credentials and known hosts for the Git source's network operations. See credentials.h. The
// only user of libssh2 in jobsync: its known_hosts parser (libgit2 is built on libssh2).
#include "agent/git/credentials.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <libssh2.h>

namespace jobsync {
namespace {

namespace fs = std::filesystem;

std::string TokenSourceName(const GitCredentials& credentials) {
  if (!credentials.token_file.empty()) return "the token in file " + credentials.token_file;
  return "the token in environment variable " + credentials.token_env;
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

}  // namespace jobsync
