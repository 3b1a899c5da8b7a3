// What the two HttpClient implementations (http_client.cc: cpprestsdk, http_client_curl.cc:
// libcurl) share: the credential and 401 handling, and the messages of their failures, so that a
// caller sees the same behaviour and the same words from either.
#ifndef JOBSYNC_BACKENDS_HTTP_CLIENT_PARTS_H_
#define JOBSYNC_BACKENDS_HTTP_CLIENT_PARTS_H_

#include <cctype>
#include <string>

#include "backends/http_client.h"
#include "backends/proxy.h"
#include "common/status.h"

namespace jobsync::http_parts {

// "16 MiB" for whole mebibytes, else "N bytes".
inline std::string Bytes(size_t n) {
  return n % (size_t{1} << 20) == 0 ? std::to_string(n >> 20) + " MiB"
                                    : std::to_string(n) + " bytes";
}

// `text` in lower case (ASCII): response header names, which HttpResponse keeps so.
inline std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The fixed credential of HttpClientConfig's fields, for clients without a CredentialSource.
inline HttpCredential FixedCredential(const HttpClientConfig& config) {
  return HttpCredential{config.bearer_token, config.client_cert_pem, config.client_key_pem};
}

// `credential` with the fields it leaves empty taken from the configuration's fixed ones.
inline HttpCredential WithFixed(const HttpClientConfig& config, HttpCredential credential) {
  if (credential.bearer_token.empty()) credential.bearer_token = config.bearer_token;
  if (credential.client_cert_pem.empty()) {
    credential.client_cert_pem = config.client_cert_pem;
    credential.client_key_pem = config.client_key_pem;
  }
  return credential;
}

// Runs `attempt(credential)` with the current credential; on a 401 to a CredentialSource's
// credential, invalidates it and runs `attempt` once more when the source renews it
// (HttpClient::Send).
template <typename Attempt>
StatusOr<HttpResponse> WithCredential(const HttpClientConfig& config, const std::string& where,
                                      const Attempt& attempt) {
  if (config.credentials == nullptr) return attempt(FixedCredential(config));
  bool renewed = false;
  while (true) {
    StatusOr<HttpCredential> credential = config.credentials->Current();
    if (!credential.ok()) {
      return Status(credential.status().code(), where + ": " + credential.status().message());
    }
    StatusOr<HttpResponse> response = attempt(WithFixed(config, *credential));
    if (!response.ok() || response->status != 401) return response;
    if (!renewed && config.credentials->Invalidate(*credential)) {
      renewed = true;
      continue;
    }
    return PermissionDeniedError(
        where + ": the server refused the credential from " + config.credentials->Describe() +
        " (HTTP 401 Unauthorized)" + (renewed ? " again after it was renewed" : "") +
        "; check that it is valid for this cluster and not expired or revoked");
  }
}

inline Status BodyTooLarge(const std::string& where, size_t max_body_bytes) {
  return ResourceExhaustedError(where + ": the response is larger than " + Bytes(max_body_bytes) +
                                "; refusing it");
}

inline Status LineTooLong(const std::string& where, size_t max_line_bytes) {
  return ResourceExhaustedError(where + ": a line of the stream is longer than " +
                                Bytes(max_line_bytes) + "; refusing it");
}

// The messages of unusable TLS material: they name the item, never its content.
inline constexpr const char* kCaNotPem = "certificate authority data is not a PEM certificate";
inline constexpr const char* kCertWithoutKey =
    "a client certificate needs its key and a key its certificate";
inline constexpr const char* kCertNotPem = "client certificate data is not a PEM certificate";
inline constexpr const char* kKeyNotPem =
    "client key data is not a PEM private key matching the client certificate";

// A client certificate from the credential source (or the configuration) that cannot be used:
// `why` says which part.
inline Status UnusableIdentity(const HttpClientConfig& config, const Status& why) {
  const std::string from = config.credentials != nullptr ? config.credentials->Describe()
                                                         : std::string("the configuration");
  return InvalidArgumentError("the client certificate from " + from +
                              " cannot be used: " + why.message());
}

// " (through proxy http://host:port)" when the client uses a proxy, else "".
inline std::string Through(const HttpClientConfig& config) {
  return config.proxy_url.empty() ? "" : " (through proxy " + RedactUrl(config.proxy_url) + ")";
}

inline Status NoResponseInTime(const HttpClientConfig& config, const std::string& where,
                               const std::string& what) {
  return DeadlineExceededError(where + Through(config) + ": no response within the timeout (" +
                               what + ")");
}

// The server's certificate failed verification (chain or name); `host` is the name it had to be
// issued for.
inline Status TlsVerificationFailed(const HttpClientConfig& config, const std::string& where,
                                    const std::string& host) {
  const std::string trusted = config.ca_pem.empty()
                                  ? "a certificate authority of the system's trust store"
                                  : "the configured certificate authority";
  const std::string hint =
      config.ca_hint.empty() ? "trust the certificate authority that signed it" : config.ca_hint;
  return PermissionDeniedError(where +
                               ": TLS certificate verification failed: the server's "
                               "certificate is not signed by " +
                               trusted + ", or not issued for host " + host + "; " + hint);
}

inline Status NotTls(const std::string& where) {
  return UnavailableError(where +
                          ": TLS handshake failed: the server does not speak TLS (is its "
                          "address http:// rather than https://?)");
}

// The name the server's certificate must be issued for, for messages: tls_server_name when set,
// else `url_host`.
inline std::string CertificateHost(const HttpClientConfig& config, const std::string& url_host) {
  return config.tls_server_name.empty() ? url_host : config.tls_server_name + " (tls-server-name)";
}

// Checks that `base_url` is an http:// or https:// URL.
inline Status CheckScheme(const std::string& base_url) {
  if (base_url.rfind("https://", 0) == 0 || base_url.rfind("http://", 0) == 0) return OkStatus();
  return InvalidArgumentError("server URL \"" + base_url +
                              "\" must start with https:// or http://");
}

// Checks config.proxy_url: an http:// proxy with a host.
inline Status CheckProxy(const std::string& proxy_url) {
  ProxyUrl parts;
  if (!ParseProxyUrl(proxy_url, &parts)) {
    return InvalidArgumentError("proxy URL \"" + RedactUrl(proxy_url) +
                                "\" is not of the form http://host:port");
  }
  if (parts.scheme != "http") {
    return InvalidArgumentError("proxy URL \"" + RedactUrl(proxy_url) +
                                "\": only http:// proxies (HTTP CONNECT) are supported, not " +
                                parts.scheme + "://");
  }
  return OkStatus();
}

}  // namespace jobsync::http_parts

#endif  // JOBSYNC_BACKENDS_HTTP_CLIENT_PARTS_H_
