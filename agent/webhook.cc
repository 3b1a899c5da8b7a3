#include "agent/webhook.h"

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace jobsync {
namespace {

constexpr size_t kMaxEchoedChars = 200;

// Header values and refs come from the sender; keep what is echoed to one bounded line.
std::string Printable(std::string_view text) {
  std::string out(text.substr(0, kMaxEchoedChars));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (text.size() > kMaxEchoedChars) out += "...";
  return out;
}

WebhookResult Answer(int http_status, std::string message) {
  WebhookResult result;
  result.http_status = http_status;
  result.message = std::move(message);
  return result;
}

// Checks the request's credential header against the secret. Returns nullopt when authentic.
std::optional<WebhookResult> Authenticate(
    WebhookKind kind, const std::function<std::string(std::string_view)>& header,
    std::string_view body, std::string_view secret) {
  if (secret.empty()) return Answer(401, "no webhook secret configured");
  const char* name = kind == WebhookKind::kGitHub   ? "X-Hub-Signature-256"
                     : kind == WebhookKind::kGitLab ? "X-Gitlab-Token"
                                                    : "X-Jobsync-Signature-256";
  const std::string presented = header(name);
  if (presented.empty()) return Answer(401, std::string("missing ") + name + " header");
  if (kind == WebhookKind::kGitLab) {
    if (!ConstantTimeEquals(presented, secret)) {
      return Answer(401, std::string(name) + " does not match the configured secret");
    }
  } else if (!ConstantTimeEquals(presented, SignWebhookBody(secret, body))) {
    return Answer(401,
                  std::string(name) + " is not the body's signature with the configured secret");
  }
  return std::nullopt;
}

// Reads the event header of github and gitlab. Returns nullopt for a push.
std::optional<WebhookResult> CheckEvent(
    WebhookKind kind, const std::function<std::string(std::string_view)>& header) {
  if (kind == WebhookKind::kGeneric) return std::nullopt;
  const char* name = kind == WebhookKind::kGitHub ? "X-GitHub-Event" : "X-Gitlab-Event";
  const std::string event = header(name);
  if (event.empty()) return Answer(400, std::string("missing ") + name + " header");
  if (kind == WebhookKind::kGitHub) {
    if (event == "push") return std::nullopt;
    // GitHub sends a ping when the hook is created: answering 200 marks the hook as working.
    if (event == "ping") return Answer(200, "pong: github webhook is set up");
  } else if (event == "Push Hook" || event == "Tag Push Hook") {
    return std::nullopt;
  }
  return Answer(202, "ignored: " + std::string(WebhookKindName(kind)) + " event \"" +
                         Printable(event) + "\", only pushes trigger a sync");
}

}  // namespace

const char* WebhookKindName(WebhookKind kind) {
  switch (kind) {
    case WebhookKind::kGitHub:
      return "github";
    case WebhookKind::kGitLab:
      return "gitlab";
    case WebhookKind::kGeneric:
      return "generic";
  }
  return "unknown";
}

std::optional<WebhookKind> ParseWebhookKind(std::string_view name) {
  for (WebhookKind kind : {WebhookKind::kGitHub, WebhookKind::kGitLab, WebhookKind::kGeneric}) {
    if (name == WebhookKindName(kind)) return kind;
  }
  return std::nullopt;
}

WebhookResult HandleWebhook(WebhookKind kind,
                            const std::function<std::string(std::string_view)>& header,
                            std::string_view body, std::string_view secret,
                            std::string_view watched_ref) {
  // Believe nothing in the request before it is authenticated.
  if (auto rejected = Authenticate(kind, header, body, secret)) return *rejected;
  if (auto answered = CheckEvent(kind, header)) return *answered;

  WebhookResult result;
  if (kind == WebhookKind::kGeneric && body.empty()) {
    result.message = "accepted: sync requested";
    result.trigger = true;
    return result;
  }
  const nlohmann::json payload = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded()) return Answer(400, "body is not valid JSON");
  if (!payload.is_object()) return Answer(400, "body is not a JSON object");
  auto ref = payload.find("ref");
  if (ref != payload.end()) {
    if (!ref->is_string()) return Answer(400, "\"ref\" in the body is not a string");
    result.ref = ref->get<std::string>();
  } else if (kind != WebhookKind::kGeneric) {
    return Answer(400, "push event without a \"ref\"");
  }
  auto after = payload.find("after");
  if (after != payload.end() && after->is_string()) result.commit = after->get<std::string>();

  if (result.ref.empty()) {
    result.message = "accepted: sync requested";
  } else if (watched_ref.empty() || result.ref == watched_ref) {
    result.message = "accepted: push to " + Printable(result.ref);
  } else {
    result.http_status = 202;
    result.message =
        "ignored: push to " + Printable(result.ref) + ", watching " + std::string(watched_ref);
    return result;
  }
  result.trigger = true;
  return result;
}

std::string SignWebhookBody(std::string_view secret, std::string_view body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest,
           &length) == nullptr) {
    // Matches no header: the request is rejected rather than the process stopped.
    return "";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // The length of a signature or token is no secret; their bytes are.
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace jobsync
