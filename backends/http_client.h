// A small HTTP client interface for the backends, and its two implementations: cpprestsdk's
// (http_client.cc, the only file that uses cpprestsdk: Ray's job server, notifications, `jobsync
// status`) and libcurl's (http_client_curl.cc: the Kubernetes apiserver). Nothing here knows
// about Kubernetes or Ray, so every backend that speaks HTTP(S) reuses it.
#ifndef JOBSYNC_BACKENDS_HTTP_CLIENT_H_
#define JOBSYNC_BACKENDS_HTTP_CLIENT_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace jobsync {

// The identity one request carries: a bearer token, a client certificate and key, or both.
// Holds secrets: never log it.
struct HttpCredential {
  std::string bearer_token;     // sent as "Authorization: Bearer <token>" when not empty
  std::string client_cert_pem;  // PEM client certificate (chain) for mutual TLS; with its key
  std::string client_key_pem;

  bool operator==(const HttpCredential&) const = default;
};

// Where a client gets the credential it sends, asked before every request so that a credential
// can change while the client lives (an exec plugin's short-lived token, a rotated token file).
// The client also keeps a TLS context per client certificate: when Current() returns another
// certificate, later requests use new connections made with it. Implementations are
// thread-safe and never put a credential in a message.
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;

  // The credential to send now. May run a program or read a file; fails with a message that
  // says what could not be obtained, from where, and how to fix it.
  virtual StatusOr<HttpCredential> Current() = 0;

  // The server answered 401 to a request sent with `rejected`. Drops `rejected` so that the next
  // Current() obtains a fresh credential (unless another request already did: then nothing is
  // dropped). Returns true when a new attempt may succeed (a fresh credential can be obtained),
  // false when the source cannot change (a fixed token).
  virtual bool Invalidate(const HttpCredential& rejected) = 0;

  // Where the credential comes from, for messages: "exec plugin \"aws\" of user \"eks\" in
  // /home/me/.kube/config". Never contains the credential.
  virtual std::string Describe() const = 0;
};

// How to reach a server and prove who we are. Holds secrets (token, key): never log it.
struct HttpClientConfig {
  // "https://host:port" or "http://host:port", without a trailing path.
  std::string base_url;
  // PEM certificates trusted to sign the server's certificate. Empty: the system's trust store.
  std::string ca_pem;
  // PEM client certificate (chain) and private key for mutual TLS; both or neither.
  std::string client_cert_pem;
  std::string client_key_pem;
  // Sent as "Authorization: Bearer <token>" when not empty.
  std::string bearer_token;
  // When set, asked for the credential before each request; the fields its credential leaves
  // empty are taken from the three fixed fields above. A 401 answer invalidates it and, when a
  // fresh credential can be had, the request is sent once more with it (see HttpClient).
  std::shared_ptr<CredentialSource> credentials;
  // True turns off server certificate verification. Only when the user's configuration asks.
  bool insecure_skip_tls_verify = false;
  // The name the server's certificate is checked against and sent as TLS SNI instead of the
  // URL's host (kubeconfig's tls-server-name). Empty: the URL's host. The request's Host header
  // carries it too, as that is how cpprestsdk chooses the name (servers such as the apiserver
  // do not route on Host).
  std::string tls_server_name;
  // "http://[user:password@]host:port" of an HTTP proxy: https:// servers are reached through a
  // CONNECT tunnel, http:// ones by sending the request to the proxy. Empty: connect directly.
  // Holds the proxy's password when it has one: messages show it as RedactUrl does.
  std::string proxy_url;
  // The User-Agent header of every request. Empty: "jobsync/<version>".
  std::string user_agent;
  // How the user sets ca_pem (a flag, a kubeconfig field), ending the message of a failed
  // certificate verification, e.g. "pass the CA certificate that signed it with --ca-file".
  // Empty: a generic hint.
  std::string ca_hint;
  // Inactivity limit of a request when the request sets none.
  std::chrono::milliseconds default_timeout{30000};
  // A response body beyond this many bytes is refused (ResourceExhausted) while it is read, so a
  // broken or hostile server cannot make the agent hold an unbounded answer; a line of a stream
  // beyond max_line_bytes ends the stream the same way (checked once the line is read: streams
  // are read line by line so that each watch event arrives at once). A list of 10,000 Jobs is
  // about 50 MB; one Kubernetes object is at most etcd's 1.5 MiB.
  size_t max_body_bytes = size_t{512} << 20;
  size_t max_line_bytes = size_t{16} << 20;
};

// One request. `path` is appended to the base URL as is (already escaped); query values are
// escaped by the client.
struct HttpRequest {
  std::string method = "GET";
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::map<std::string, std::string> headers;
  std::string body;          // sent when not empty
  std::string content_type;  // Content-Type of `body`
  // Inactivity limit; zero: the client's default. For a stream, set it above the server's own
  // stream timeout, because the limit applies to each wait for data, not to the whole stream.
  std::chrono::milliseconds timeout{0};
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // empty for streams
};

// Lets one thread stop another thread's stream. Copies share the same state. Thread-safe.
class HttpCancellation {
 public:
  HttpCancellation();
  // Stops the streams started with this cancellation; they end with kUnavailable "cancelled".
  void Cancel();
  bool cancelled() const;

  // For the implementations: calls `on_cancel` (in the cancelling thread, once) when Cancel() is
  // called while the returned handle lives, or at once when it was called already. Destroying
  // the handle waits for a call under way. `on_cancel` must be quick and must not call back in.
  [[nodiscard]] std::shared_ptr<void> OnCancel(std::function<void()> on_cancel) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// Sends HTTP requests to one server. Implementations are thread-safe, reuse connections, and
// never throw; every failure is a Status. Error messages never carry credentials.
class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // Sends `request` and reads the whole response. Any HTTP status is a successful result: the
  // caller interprets it. Fails with kDeadlineExceeded when the server went silent for longer
  // than the timeout, kPermissionDenied when the server's TLS certificate fails verification
  // (the message says "TLS certificate verification failed", names the server and the trust
  // store used, and ends with HttpClientConfig::ca_hint), and kUnavailable when the connection
  // could not be made or broke. With a CredentialSource (HttpClientConfig::credentials): fails as
  // the source does when it cannot give a credential; on a 401 answer invalidates the credential
  // and, when the source can renew it, sends the request once more; a 401 that remains fails
  // with kPermissionDenied naming the source (CredentialSource::Describe).
  virtual StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;

  // Sends a GET-like `request` whose response body is a stream of lines (a watch). When the
  // status is 2xx, calls `on_line` with each line (without its end) as it arrives, until the
  // server ends the stream, `on_line` returns false, or `cancel` is cancelled; then returns the
  // status and headers with an empty body. A non-2xx response is returned whole, without calls to
  // `on_line`. Fails as Send does (a 401 is handled as Send handles it, before any line), and
  // with kUnavailable when cancelled.
  virtual StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                        const std::function<bool(std::string_view)>& on_line,
                                        const HttpCancellation& cancel) = 0;
};

// Returns a cpprestsdk-based client for `config`. Fails with kInvalidArgument when the URL, the
// proxy URL or the PEM data cannot be used (the message names what, never its content). A client
// certificate from a CredentialSource is checked when it is first used: a bad one fails that
// request with kInvalidArgument.
StatusOr<std::unique_ptr<HttpClient>> NewHttpClient(const HttpClientConfig& config);

// Returns a libcurl-based client for `config`, which sends each request in the calling thread
// (http_client_curl.cc): the one the Kubernetes backend uses, because it sends thousands of
// requests in a sync (bench/RESULTS.md, "The apiserver through libcurl"). Fails and behaves as
// NewHttpClient's client does.
StatusOr<std::unique_ptr<HttpClient>> NewCurlHttpClient(const HttpClientConfig& config);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_HTTP_CLIENT_H_
