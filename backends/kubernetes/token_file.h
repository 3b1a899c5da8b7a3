// A bearer token kept in a file and read again while the client lives, as client-go does for a
// kubeconfig's tokenFile and the in-cluster service account token: Kubernetes rotates bound
// service-account tokens (projected volumes) in place, well before they expire, so a token read
// once would stop working after about an hour.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_TOKEN_FILE_H_
#define JOBSYNC_BACKENDS_KUBERNETES_TOKEN_FILE_H_

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "backends/http_client.h"
#include "common/status.h"

namespace jobsync {

// Reads the token file at first use and again once `refresh` has passed since the last read
// (client-go: one minute), and at once after a 401. A read that fails after a good one keeps the
// token read before, as client-go does. The token is the file's content without the trailing
// line end. Thread-safe.
class FileTokenSource : public CredentialSource {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `description` names the file's role for messages, e.g. "tokenFile /path of user \"ci\" in
  // /home/me/.kube/config". `clock`: the steady clock when empty.
  FileTokenSource(std::string path, std::string description,
                  std::chrono::milliseconds refresh = std::chrono::minutes(1), Clock clock = {});

  // CredentialSource: fails with kPermissionDenied when the file cannot be read (or is empty)
  // and no token was read before.
  StatusOr<HttpCredential> Current() override;
  // Reads the file again; true when it now holds another token than `rejected`'s.
  bool Invalidate(const HttpCredential& rejected) override;
  std::string Describe() const override;

 private:
  std::chrono::steady_clock::time_point Now() const;
  // Reads the file into token_; false when it cannot be read or is empty. mutex_ held.
  bool Read();

  const std::string path_;
  const std::string description_;
  const std::chrono::milliseconds refresh_;
  const Clock clock_;
  std::mutex mutex_;
  std::optional<std::string> token_;               // guarded by mutex_
  std::chrono::steady_clock::time_point read_at_;  // guarded by mutex_
};

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_TOKEN_FILE_H_
