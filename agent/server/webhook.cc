#include "agent/server/webhook.h"

#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace jobsync {
namespace {

using Headers = std::function<std::string(std::string_view)>;

constexpr size_t kMaxEchoedChars = 200;
constexpr std::string_view kSha256Prefix = "sha256=";

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

// The first of `names` present in the request, and its value; {"", ""} when none is.
std::pair<std::string, std::string> FirstHeader(const Headers& header,
                                                std::initializer_list<const char*> names) {
  for (const char* name : names) {
    std::string value = header(name);
    if (!value.empty()) return {name, std::move(value)};
  }
  return {};
}

// Reads the event header. Returns nullopt for a push.
std::optional<WebhookResult> CheckEvent(WebhookKind kind, const Headers& header) {
  std::pair<std::string, std::string> event;
  std::string expected_name;
  switch (kind) {
    case WebhookKind::kGeneric:
      return std::nullopt;
    case WebhookKind::kGitHub:
      event = FirstHeader(header, {"X-GitHub-Event"});
      expected_name = "X-GitHub-Event";
      break;
    case WebhookKind::kGitLab:
      event = FirstHeader(header, {"X-Gitlab-Event"});
      expected_name = "X-Gitlab-Event";
      break;
    case WebhookKind::kGitea:
      event = FirstHeader(header, {"X-Gitea-Event", "X-Forgejo-Event"});
      expected_name = "X-Gitea-Event (or X-Forgejo-Event)";
      break;
    case WebhookKind::kBitbucket:
      event = FirstHeader(header, {"X-Event-Key"});
      expected_name = "X-Event-Key";
      break;
  }
  const std::string& name = event.second;
  if (name.empty()) return Answer(400, "missing " + expected_name + " header");
  switch (kind) {
    case WebhookKind::kGitHub:
      if (name == "push") return std::nullopt;
      // GitHub sends a ping when the hook is created: answering 200 marks the hook as working.
      if (name == "ping") return Answer(200, "pong: github webhook is set up");
      break;
    case WebhookKind::kGitLab:
      if (name == "Push Hook" || name == "Tag Push Hook") return std::nullopt;
      break;
    case WebhookKind::kGitea:
      if (name == "push") return std::nullopt;
      break;
    case WebhookKind::kBitbucket:
      if (name == "repo:push" || name == "repo:refs_changed") return std::nullopt;
      // Bitbucket Server's "Test connection".
      if (name == "diagnostics:ping") return Answer(200, "pong: bitbucket webhook is set up");
      break;
    case WebhookKind::kGeneric:
      break;
  }
  return Answer(202, "ignored: " + std::string(WebhookKindName(kind)) + " event \"" +
                         Printable(name) + "\", only pushes trigger a sync");
}

// One ref a push changed.
struct PushedRef {
  std::string ref;
  std::string commit;
  bool deleted = false;
};

std::string StringAt(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// GitHub's form delivery: the JSON is the value of the "payload" field.
std::optional<std::string> FormPayload(std::string_view body) {
  while (!body.empty()) {
    const size_t amp = body.find('&');
    const std::string_view field = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    const size_t eq = field.find('=');
    if (eq != std::string_view::npos && field.substr(0, eq) == "payload") {
      return DecodeFormComponent(field.substr(eq + 1));
    }
  }
  return std::nullopt;
}

// Bitbucket Cloud (push.changes[].new) and Server (changes[].ref).
std::optional<WebhookResult> ReadBitbucketRefs(const nlohmann::json& payload,
                                               std::vector<PushedRef>* refs) {
  const nlohmann::json* changes = nullptr;
  auto push = payload.find("push");
  if (push != payload.end() && push->is_object()) {
    auto found = push->find("changes");
    if (found != push->end()) changes = &*found;
  } else if (auto found = payload.find("changes"); found != payload.end()) {
    changes = &*found;
  }
  if (changes == nullptr || !changes->is_array()) {
    return Answer(400, "push event without a \"changes\" list");
  }
  for (const nlohmann::json& change : *changes) {
    if (!change.is_object()) continue;
    PushedRef pushed;
    if (auto ref = change.find("ref"); ref != change.end() && ref->is_object()) {
      // Server: ref.id is the full name; refId repeats it.
      pushed.ref = StringAt(*ref, "id");
      if (pushed.ref.empty()) pushed.ref = StringAt(change, "refId");
      pushed.commit = StringAt(change, "toHash");
      pushed.deleted = StringAt(change, "type") == "DELETE";
    } else {
      // Cloud: "new" is null when the push deleted the branch; "old" then names it.
      auto next = change.find("new");
      const bool deleted = next == change.end() || !next->is_object();
      const nlohmann::json& side = deleted ? change.value("old", nlohmann::json()) : *next;
      const std::string type = StringAt(side, "type");
      const std::string name = StringAt(side, "name");
      if (name.empty() || (type != "branch" && type != "tag")) continue;
      pushed.ref = (type == "branch" ? "refs/heads/" : "refs/tags/") + name;
      if (!deleted) pushed.commit = StringAt(side.value("target", nlohmann::json()), "hash");
      pushed.deleted = deleted;
    }
    if (!pushed.ref.empty()) refs->push_back(std::move(pushed));
  }
  if (refs->empty()) return Answer(400, "push event names no branch or tag");
  return std::nullopt;
}

}  // namespace

const char* WebhookKindName(WebhookKind kind) {
  switch (kind) {
    case WebhookKind::kGitHub:
      return "github";
    case WebhookKind::kGitLab:
      return "gitlab";
    case WebhookKind::kGitea:
      return "gitea";
    case WebhookKind::kBitbucket:
      return "bitbucket";
    case WebhookKind::kGeneric:
      return "generic";
  }
  return "unknown";
}

std::optional<WebhookKind> ParseWebhookKind(std::string_view name) {
  for (WebhookKind kind : kWebhookKinds) {
    if (name == WebhookKindName(kind)) return kind;
  }
  return std::nullopt;
}

std::optional<WebhookResult> AuthenticateWebhook(WebhookKind kind, const Headers& header,
                                                 std::string_view body, std::string_view secret) {
  if (secret.empty()) return Answer(401, "no webhook secret configured");
  std::string expected_name;
  std::pair<std::string, std::string> presented;
  switch (kind) {
    case WebhookKind::kGitHub:
      presented = FirstHeader(header, {"X-Hub-Signature-256"});
      expected_name = "X-Hub-Signature-256";
      break;
    case WebhookKind::kGitLab:
      presented = FirstHeader(header, {"X-Gitlab-Token"});
      expected_name = "X-Gitlab-Token";
      break;
    case WebhookKind::kGitea:
      presented = FirstHeader(header, {"X-Gitea-Signature", "X-Forgejo-Signature"});
      expected_name = "X-Gitea-Signature (or X-Forgejo-Signature)";
      break;
    case WebhookKind::kBitbucket:
      presented = FirstHeader(header, {"X-Hub-Signature"});
      expected_name = "X-Hub-Signature";
      break;
    case WebhookKind::kGeneric:
      presented = FirstHeader(header, {"X-Jobsync-Signature-256"});
      expected_name = "X-Jobsync-Signature-256";
      break;
  }
  if (presented.first.empty()) {
    std::string message = "missing " + expected_name + " header";
    if (kind == WebhookKind::kBitbucket) message += ": set a secret on the Bitbucket webhook";
    return Answer(401, message);
  }
  if (kind == WebhookKind::kGitLab) {
    if (!ConstantTimeEquals(presented.second, secret)) {
      return Answer(401, presented.first + " does not match the configured secret");
    }
    return std::nullopt;
  }
  std::string expected = SignWebhookBody(secret, body);
  // Gitea and Forgejo send the bare hex digest.
  if (kind == WebhookKind::kGitea) expected.erase(0, kSha256Prefix.size());
  if (!ConstantTimeEquals(presented.second, expected)) {
    return Answer(401, presented.first + " is not the body's signature with the configured secret");
  }
  return std::nullopt;
}

WebhookResult HandleWebhook(WebhookKind kind, const Headers& header, std::string_view body,
                            std::string_view secret, std::string_view watched_ref) {
  // Believe nothing in the request before it is authenticated.
  if (auto rejected = AuthenticateWebhook(kind, header, body, secret)) return *rejected;
  if (auto answered = CheckEvent(kind, header)) return *answered;

  WebhookResult result;
  if (kind == WebhookKind::kGeneric && body.empty()) {
    result.message = "accepted: sync requested";
    result.trigger = true;
    return result;
  }
  std::string form_json;
  if (kind == WebhookKind::kGitHub &&
      header("Content-Type").starts_with("application/x-www-form-urlencoded")) {
    std::optional<std::string> payload = FormPayload(body);
    if (!payload) {
      return Answer(400,
                    "form body without a URL-encoded \"payload\" field (GitHub's content type "
                    "application/x-www-form-urlencoded)");
    }
    form_json = std::move(*payload);
    body = form_json;
  }
  const nlohmann::json payload = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded()) return Answer(400, "body is not valid JSON");
  if (!payload.is_object()) return Answer(400, "body is not a JSON object");

  std::vector<PushedRef> refs;
  if (kind == WebhookKind::kBitbucket) {
    if (auto bad = ReadBitbucketRefs(payload, &refs)) return *bad;
  } else {
    auto ref = payload.find("ref");
    if (ref != payload.end()) {
      if (!ref->is_string()) return Answer(400, "\"ref\" in the body is not a string");
      PushedRef pushed{ref->get<std::string>(), StringAt(payload, "after"), false};
      auto deleted = payload.find("deleted");
      pushed.deleted = deleted != payload.end() && deleted->is_boolean() && deleted->get<bool>();
      refs.push_back(std::move(pushed));
    } else if (kind != WebhookKind::kGeneric) {
      return Answer(400, "push event without a \"ref\"");
    } else {
      result.commit = StringAt(payload, "after");
    }
  }

  if (refs.empty()) {
    result.message = "accepted: sync requested";
    result.trigger = true;
    return result;
  }
  for (const PushedRef& pushed : refs) {
    if (pushed.deleted || (!watched_ref.empty() && pushed.ref != watched_ref)) continue;
    result.ref = pushed.ref;
    result.commit = pushed.commit;
    result.message = "accepted: push to " + Printable(pushed.ref);
    result.trigger = true;
    return result;
  }
  std::string pushed_names;
  for (const PushedRef& pushed : refs) {
    if (!pushed_names.empty()) pushed_names += ", ";
    pushed_names += Printable(pushed.ref) + (pushed.deleted ? " (deleted)" : "");
  }
  result.ref = refs.front().ref;
  result.commit = refs.front().commit;
  result.http_status = 202;
  result.message = "ignored: push to " + pushed_names +
                   (watched_ref.empty() ? std::string() : ", watching " + std::string(watched_ref));
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
  std::string out(kSha256Prefix);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

std::optional<std::string> DecodeFormComponent(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex(text[i + 1]);
      const int low = hex(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // The length of a signature or token is no secret; their bytes are.
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace jobsync
