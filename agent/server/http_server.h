// The agent's HTTP endpoints, served with cpp-httplib (a server library made for it; cpprestsdk's
// listener is not, see DESIGN.md), on one listen address:
//
//   GET  /healthz              200 "ok" while the process runs
//   GET  /readyz               200 when Handlers::ready says so, else 503 with the reason
//                              (the agent's: ready while it serves, see Reconciler::Ready)
//   GET  /metrics              Prometheus text (text/plain; version=0.0.4)
//   GET  /api/v1/status        JSON from Handlers::status
//   GET  /api/v1/jobs          the jobs API (Handlers::jobs; jobs_api.h), with its query
//   GET  /api/v1/jobs/<key>    parameters, If-None-Match and ETag (304 answers carry no body)
//   GET  /                     the status page (text/html) from Handlers::index_html
//   POST /hooks/github|gitlab|gitea|bitbucket|generic   webhooks (webhook.h); the response is
//                              the result's status and message
//
// Limits: request bodies above max_body_bytes get 413; a POST without Content-Length (or chunked)
// gets 411 and one with a Content-Encoding 415, as their size could not be bounded before reading.
// Each request must arrive whole (line, headers and body) within request_timeout of the
// connection's accept or of the previous response: else 408 (when any byte came) and the
// connection is closed; each response is written within write_timeout. Every connection has its
// own thread at once, up to max_connections; the next health_connections serve only /healthz
// and /readyz within health_timeout; beyond them, and beyond max_connections_per_client from
// one address, a connection gets 503 with Retry-After and is closed at once. A webhook is
// authenticated first (HttpHandlers::webhook_authenticate, 401 without a token being spent);
// authentic ones beyond webhook_rate_per_second (token bucket, burst of the same size, at least
// 1) get 429 with Retry-After. Other methods and paths get 405/404; an endpoint whose handler is
// empty answers 404. Handlers are called on the connections' threads, concurrently; an
// exception from one answers 500 with a generic message.
#ifndef JOBSYNC_AGENT_SERVER_HTTP_SERVER_H_
#define JOBSYNC_AGENT_SERVER_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/server/webhook.h"
#include "common/readiness.h"
#include "common/status.h"

namespace jobsync {

struct HttpServerOptions {
  // "host:port"; port 0 picks a free port (see AgentHttpServer::port). "[::1]:8080" for IPv6.
  std::string listen = "127.0.0.1:8080";
  size_t max_body_bytes = 1 << 20;
  // The whole of one request, from the connection's accept (or the end of the previous response
  // on a kept-alive connection) to its last body byte; then 408 and the connection is closed.
  std::chrono::seconds request_timeout{10};
  // The whole of one response, from its first byte to its last.
  std::chrono::seconds write_timeout{10};
  double webhook_rate_per_second = 10;  // 0 or less: no limit
  // Connections served at once, each on its own thread; beyond them (and the health reserve),
  // a new connection is answered 503 with Retry-After and closed at once.
  int max_connections = 32;
  // Connections open at once from one client address; beyond, 503 with Retry-After at once.
  int max_connections_per_client = 8;
  // Connections taken beyond max_connections that serve only /healthz and /readyz, with
  // health_timeout as their request deadline: slow clients holding every connection cannot
  // starve the liveness probe, they only cycle through these slots every health_timeout.
  int health_connections = 2;
  std::chrono::milliseconds health_timeout{1000};
};

// A GET of the jobs API as the server read it.
struct ApiRequest {
  // What follows "/api/v1/jobs": "" for the list, "/kubernetes/vision/resnet50" for one job
  // (percent-decoded).
  std::string subpath;
  std::multimap<std::string, std::string> params;  // the query string, decoded
  std::string if_none_match;                       // the header's value, "" without it
};

// What to answer: `status` (200, 304, 400, 404 ...), `body` as application/json (none with 304),
// and an ETag header when `etag` is set.
struct ApiResponse {
  int status = 200;
  std::string body;
  std::string etag;
};

struct HttpHandlers {
  std::function<std::string()> metrics;
  // The status document as JSON text. Invalid UTF-8 in a message (say, from a commit) must be
  // replaced by the handler, never make the status a 500.
  std::function<std::string()> status;
  std::function<Readiness()> ready;
  std::function<std::string()> index_html;
  // GET /api/v1/jobs and /api/v1/jobs/...
  std::function<ApiResponse(const ApiRequest&)> jobs;
  // Checks a webhook request's signature (or token) and nothing else: nullopt when authentic,
  // else the answer (401). Called before the rate limit, so a forged request costs a hash and
  // never a token of genuine deliveries. Required with `webhook`.
  std::function<std::optional<WebhookResult>(
      WebhookKind, const std::function<std::string(std::string_view)>&, std::string_view body)>
      webhook_authenticate;
  // Receives an authenticated webhook request within the rate limit; returns what to answer.
  std::function<WebhookResult(WebhookKind, const std::function<std::string(std::string_view)>&,
                              std::string_view body)>
      webhook;
};

class AgentHttpServer {
 public:
  AgentHttpServer(HttpServerOptions options, HttpHandlers handlers);
  // Stops the server if running.
  ~AgentHttpServer();
  AgentHttpServer(const AgentHttpServer&) = delete;
  AgentHttpServer& operator=(const AgentHttpServer&) = delete;

  // Binds the listen address and starts serving on a background thread. Fails with
  // kInvalidArgument for a malformed address and kUnavailable (naming the address) when it
  // cannot be bound, e.g. in use.
  Status Start();
  // Stops accepting, ends the waits of connections in flight (a handler running finishes its
  // response), and joins the threads. Idempotent.
  void Stop();
  // The bound port (after Start).
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

// Splits "host:port" / "[v6]:port"; kInvalidArgument with the expected form otherwise.
Status ParseListenAddress(std::string_view address, std::string* host, int* port);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SERVER_HTTP_SERVER_H_
