// Webhook receivers: a push to the watched branch wakes the agent at once instead of at the next
// poll. The request is authenticated before anything in it is believed, with the headers each
// host documents:
//   github:    X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body as sent, keyed by the
//              secret>; X-GitHub-Event: push (ping answers 200 and triggers nothing). The body
//              is JSON, or, for a hook created with content type
//              application/x-www-form-urlencoded, the form "payload=<URL-encoded JSON>" (the
//              signature is over the form as sent, not over the decoded JSON).
//   gitlab:    X-Gitlab-Token: <the secret>; X-Gitlab-Event: Push Hook (or Tag Push Hook).
//   gitea:     Gitea and Forgejo: X-Gitea-Signature (or X-Forgejo-Signature): <hex HMAC-SHA256
//              of the body>, without a prefix; X-Gitea-Event (or X-Forgejo-Event): push. The
//              body is GitHub's push shape (ref, after).
//   bitbucket: Bitbucket Cloud and Bitbucket Server/Data Center: X-Hub-Signature:
//              sha256=<hex HMAC-SHA256 of the body>. Cloud: X-Event-Key: repo:push, the pushed
//              refs in push.changes[].new {type: branch|tag, name, target.hash}. Server:
//              X-Event-Key: repo:refs_changed, the refs in changes[] {ref.id "refs/heads/main" (or
//              refId), ref.displayId, toHash, type}; diagnostics:ping (its "test connection")
//              answers 200 and triggers nothing.
//   generic:   X-Jobsync-Signature-256: sha256=<hex HMAC-SHA256 of the body>; the body may be
//              empty or JSON with an optional "ref" (and "after", the commit).
// Comparisons of signatures and tokens take constant time. A push names its ref
// ("refs/heads/main"; a Bitbucket push may name several); only a push to the watched ref
// triggers a sync, others are acknowledged with 202 (any push triggers when the agent follows
// the remote's default branch, whose name it does not know: the sync's ls-remote then decides,
// cheaply, whether anything moved). A deleted branch does not trigger.
//
// Everything here is pure: no I/O, no clock. Secrets never appear in a result's message.
#ifndef JOBSYNC_AGENT_SERVER_WEBHOOK_H_
#define JOBSYNC_AGENT_SERVER_WEBHOOK_H_

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace jobsync {

enum class WebhookKind { kGitHub, kGitLab, kGitea, kBitbucket, kGeneric };

// Every kind, in the order the endpoints are listed.
inline constexpr std::array<WebhookKind, 5> kWebhookKinds = {
    WebhookKind::kGitHub, WebhookKind::kGitLab, WebhookKind::kGitea, WebhookKind::kBitbucket,
    WebhookKind::kGeneric};

// "github", "gitlab", "gitea", "bitbucket", "generic" (the path under /hooks/).
const char* WebhookKindName(WebhookKind kind);
// Parses a name as above; nullopt for anything else.
std::optional<WebhookKind> ParseWebhookKind(std::string_view name);

// What to answer and whether to sync.
struct WebhookResult {
  int http_status = 200;  // 200 accepted, 202 ignored, 400 bad body, 401 bad signature
  std::string message;    // one line for the response body and the log
  bool trigger = false;   // true: sync now
  std::string ref;        // the pushed ref (the watched one when several), when the body named one
  std::string commit;     // the pushed commit, when the body named one
};

// Checks only the request's signature (or GitLab's token) against `secret`: nullopt when
// authentic, else the 401 to answer (an empty secret rejects every request). Costs one HMAC of
// the body at most, and reads nothing else of it.
std::optional<WebhookResult> AuthenticateWebhook(
    WebhookKind kind, const std::function<std::string(std::string_view)>& header,
    std::string_view body, std::string_view secret);

// Authenticates (as AuthenticateWebhook) and reads one webhook request. `header` returns a request
// header's value by name (case-insensitive; empty when absent). `secret` is the configured secret;
// an empty secret rejects every request (401: no secret configured). `watched_ref` is
// "refs/heads/<b>" or "refs/tags/<t>", or empty when following the default branch.
WebhookResult HandleWebhook(WebhookKind kind,
                            const std::function<std::string(std::string_view)>& header,
                            std::string_view body, std::string_view secret,
                            std::string_view watched_ref);

// "sha256=" + lowercase hex HMAC-SHA256 of `body` keyed by `secret` (what senders put in the
// signature header; used by tests and by `jobsync` users who script the generic hook).
std::string SignWebhookBody(std::string_view secret, std::string_view body);

// Decodes application/x-www-form-urlencoded text ('+' is a space, %XX a byte). nullopt when a
// '%' is not followed by two hex digits.
std::optional<std::string> DecodeFormComponent(std::string_view text);

// True when `a` equals `b`, in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SERVER_WEBHOOK_H_
