// Credentials and host identity for the network operations of the Git source, as libgit2
// callbacks: the SSH key or HTTPS token offered to the remote (with a bound on attempts), and the
// check of the remote's identity (SSH host key against known_hosts, TLS certificate). Internal to
// agent/git/: the helper child (remote_ops.cc) installs these callbacks; ReadGitToken, declared
// in git_source.h, is defined in credentials.cc too.
//
// Contract: a callback that refuses to go on returns GIT_EUSER and leaves the reason, a
// PermissionDenied Status naming the file or flag to fix, in HelperContext::failure; that status
// wins over libgit2's own message. Secret values are never put into a message.
#ifndef JOBSYNC_AGENT_GIT_CREDENTIALS_H_
#define JOBSYNC_AGENT_GIT_CREDENTIALS_H_

#include <string>

#include <git2.h>

#include "agent/git/git_source.h"
#include "common/status.h"

namespace jobsync {

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

// git_credential_acquire_cb; `payload` is a HelperContext. libgit2 calls this again after each
// rejection, so attempts are counted and bounded by max_attempts.
int CredentialCallback(git_credential** out, const char* url, const char* username_from_url,
                       unsigned int allowed_types, void* payload);

// git_transport_certificate_check_cb; `payload` is a HelperContext. SSH host keys are checked
// against credentials.known_hosts_file (default ~/.ssh/known_hosts) unless
// insecure_ignore_host_key; a TLS certificate libgit2 found invalid is refused.
int CertificateCallback(git_cert* cert, int valid, const char* host, void* payload);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_GIT_CREDENTIALS_H_
