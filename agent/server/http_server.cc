// The agent's adapter of cpp-httplib: nothing else in agent/ includes it.
#include "agent/server/http_server.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <utility>

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

// Debian's cpp-httplib is a compiled library (libcpp-httplib.so) built with these options, and
// the header's class layouts depend on them (Request has an SSL pointer only with OpenSSL): every
// file that includes httplib.h must see the same definitions, as pkg-config's cpp-httplib.pc
// gives them.
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT) || !defined(CPPHTTPLIB_ZLIB_SUPPORT) || \
    !defined(CPPHTTPLIB_BROTLI_SUPPORT)
#error "build with the compile definitions of pkg-config cpp-httplib (PkgConfig::CPPHTTPLIB)"
#endif
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "agent/server/connection.h"

namespace jobsync {
namespace {

// Webhook admission: `rate` tokens a second, at most max(rate, 1) saved up.
class TokenBucket {
 public:
  explicit TokenBucket(double rate)
      : rate_(rate),
        capacity_(std::max(rate, 1.0)),
        tokens_(capacity_),
        last_(std::chrono::steady_clock::now()) {}

  // Takes a token. Without one, returns false and the whole seconds until the next.
  bool TryTake(int* retry_after_seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    const std::chrono::duration<double> elapsed = now - last_;
    last_ = now;
    tokens_ = std::min(capacity_, tokens_ + elapsed.count() * rate_);
    if (tokens_ >= 1) {
      tokens_ -= 1;
      return true;
    }
    // Clamped to a day so that a tiny rate cannot overflow the int.
    *retry_after_seconds =
        static_cast<int>(std::clamp(std::ceil((1 - tokens_) / rate_), 1.0, 86400.0));
    return false;
  }

 private:
  std::mutex mutex_;
  const double rate_;
  const double capacity_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

const char* ReasonText(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 408:
      return "request timeout";
    case 411:
      return "send the body with a Content-Length header, not chunked";
    case 414:
      return "request URI too long";
    case 415:
      return "send the body without a Content-Encoding";
    case 429:
      return "too many requests";
    case 500:
      return "internal error";
    case 503:
      return "not ready";
  }
  return "error";
}

// Requests a connection serves before it is closed (each with its own deadline).
constexpr int kMaxRequestsPerConnection = 100;
// Room for a request's line and headers on top of its body.
constexpr size_t kMaxHeaderBytes = size_t{64} * 1024;

// The slot a connection took when it was accepted (see ConnectionThreads).
enum class Slot {
  kServe,       // within max_connections: served as usual
  kHealthOnly,  // within the health reserve: /healthz and /readyz only, with health_timeout
  kRefuse,      // beyond both: a 503 at once
};

// The connection this thread serves, for what httplib calls without it (the pre-routing and
// error handlers run on the connection's thread).
struct ConnectionContext {
  Slot slot = Slot::kServe;
  DeadlineSocket* socket = nullptr;
  std::chrono::milliseconds timeout{0};
  bool close_after_response = false;
};
thread_local Slot t_slot = Slot::kServe;
thread_local ConnectionContext* t_connection = nullptr;

// httplib's view of a DeadlineSocket.
class DeadlineStream : public httplib::Stream {
 public:
  explicit DeadlineStream(DeadlineSocket& socket) : socket_(socket) {}

  // httplib::Stream
  bool is_readable() const override { return socket_.WaitReadable(); }
  bool is_writable() const override { return socket_.WaitWritable(); }
  ssize_t read(char* ptr, size_t size) override { return socket_.Read(ptr, size); }
  ssize_t write(const char* ptr, size_t size) override { return socket_.Write(ptr, size); }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = SocketAddress(socket_.fd(), /*peer=*/true, &port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = SocketAddress(socket_.fd(), /*peer=*/false, &port);
  }
  socket_t socket() const override { return socket_.fd(); }

 private:
  DeadlineSocket& socket_;
};

// httplib's task queue, given one task per accepted connection (httplib's accept loop calls
// enqueue on its own thread). Each connection gets a thread at once, never a place in a queue
// behind slow ones: up to max_connections served ones, then health_connections health-only ones;
// beyond, the task runs at once on the accepting thread to answer 503. Threads are started as
// connections need them and kept until shutdown, which lets the tasks in hand finish.
class ConnectionThreads : public httplib::TaskQueue {
 public:
  ConnectionThreads(int max_connections, int health_connections)
      : max_connections_(static_cast<size_t>(std::max(1, max_connections))),
        health_connections_(static_cast<size_t>(std::max(0, health_connections))) {}

  // httplib::TaskQueue
  void enqueue(std::function<void()> task) override {
    Slot slot = Slot::kRefuse;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (busy_ < max_connections_) {
        slot = Slot::kServe;
      } else if (busy_ < max_connections_ + health_connections_) {
        slot = Slot::kHealthOnly;
      }
      if (slot != Slot::kRefuse) {
        ++busy_;
        tasks_.push_back({std::move(task), slot});
        // Every busy slot has a thread: the task never waits for one to finish.
        if (busy_ > threads_.size()) {
          threads_.emplace_back([this] { Work(); });
        } else {
          changed_.notify_one();
        }
        return;
      }
    }
    t_slot = Slot::kRefuse;
    task();
    t_slot = Slot::kServe;
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

 private:
  struct Task {
    std::function<void()> run;
    Slot slot;
  };

  void Work() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      changed_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      Task task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      t_slot = task.slot;
      task.run();
      t_slot = Slot::kServe;
      lock.lock();
      --busy_;
    }
  }

  const size_t max_connections_;
  const size_t health_connections_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Task> tasks_;
  std::vector<std::thread> threads_;  // only the accepting thread adds, and joins them
  size_t busy_ = 0;                   // connections taken and not yet closed
  bool stopping_ = false;
};

// httplib's server with its connection loop replaced: httplib reads one request at a time
// (process_request) from the Stream it is given, and ours stops at the request's deadline.
class BoundedServer : public httplib::Server {
 public:
  explicit BoundedServer(std::function<void(int)> serve_connection)
      : serve_connection_(std::move(serve_connection)) {}

  // Reads one request from `stream`, routes it and writes the response. False when nothing
  // could be answered (no request line arrived).
  bool ServeRequest(httplib::Stream& stream, bool close_connection, bool& connection_closed) {
    return process_request(stream, close_connection, connection_closed, nullptr);
  }

 private:
  // httplib::Server: the task httplib's accept loop queues for each connection.
  bool process_and_close_socket(socket_t sock) override {
    serve_connection_(sock);
    return true;
  }

  std::function<void(int)> serve_connection_;
};

// Only SO_REUSEADDR: httplib's default adds SO_REUSEPORT, which would let a second agent bind
// the same port and silently share its requests instead of failing to start.
void SetSocketOptions(int socket) {
  int yes = 1;
  setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace

struct AgentHttpServer::Impl {
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  using HandlerResponse = httplib::Server::HandlerResponse;

  Impl(HttpServerOptions options_in, HttpHandlers handlers_in)
      : options(std::move(options_in)),
        handlers(std::move(handlers_in)),
        webhook_bucket(options.webhook_rate_per_second),
        per_client(std::max(1, options.max_connections_per_client)),
        server([this](int socket) { ServeConnection(socket); }) {
    server.set_payload_max_length(options.max_body_bytes);
    server.set_socket_options(SetSocketOptions);
    server.set_tcp_nodelay(true);
    server.new_task_queue = [this] {
      return new ConnectionThreads(options.max_connections, options.health_connections);
    };
    server.set_pre_routing_handler(
        [this](const httplib::Request& request, httplib::Response& response) {
          return Admit(request, response);
        });
    // Statuses httplib sets itself (404, 413, 400, ...) and ours without a body get a short one.
    server.set_error_handler(httplib::Server::HandlerWithResponse(
        [max_body_bytes = options.max_body_bytes](const httplib::Request&,
                                                  httplib::Response& response) {
          // httplib answers 400 to a request it could not read whole: say why when it was the
          // deadline.
          if (t_connection != nullptr && t_connection->socket->read_expired()) {
            response.status = 408;
            response.set_header("Connection", "close");
            response.set_content(DeadlineMessage(t_connection->timeout),
                                 "text/plain; charset=utf-8");
            return HandlerResponse::Handled;
          }
          if (!response.body.empty()) return HandlerResponse::Unhandled;
          response.set_content(
              response.status == 413
                  ? "request body larger than " + std::to_string(max_body_bytes) + " bytes"
                  : std::string(ReasonText(response.status)),
              "text/plain; charset=utf-8");
          return HandlerResponse::Handled;
        }));
    // Exceptions from httplib's own routing; those of our handlers are caught in Route.
    server.set_exception_handler([](const httplib::Request& request, httplib::Response& response,
                                    const std::exception_ptr& /*error*/) {
      spdlog::error("http: {} {} failed inside the server library", request.method, request.path);
      response = httplib::Response();
      response.status = 500;
    });
    AddRoutes();
  }

  // Answers what needs no body: requests on a health-only connection for anything but health,
  // methods no route takes, and bodies httplib cannot bound.
  HandlerResponse Admit(const httplib::Request& request, httplib::Response& response) {
    if (t_connection != nullptr && t_connection->slot == Slot::kHealthOnly &&
        request.path != "/healthz" && request.path != "/readyz") {
      response.status = 503;
      response.set_header("Retry-After", "1");
      response.set_content(
          "the server is at its connection limit and serves only /healthz and /readyz; retry",
          "text/plain; charset=utf-8");
      return CloseAfter(response);
    }
    if (request.method == "GET" || request.method == "HEAD") return HandlerResponse::Unhandled;
    const auto route = routes.find(request.path);
    if (request.method != "POST") {
      if (route == routes.end()) {
        response.status = 404;
      } else {
        NotAllowed(route->second, response);
      }
    } else if (request.has_header("Transfer-Encoding") || !request.has_header("Content-Length")) {
      // httplib 0.11 enforces max_body_bytes only on a declared Content-Length: it would read a
      // chunked or unframed body whole.
      response.status = 411;
    } else if (const std::string encoding = request.get_header_value("Content-Encoding");
               !encoding.empty() && encoding != "identity") {
      // ... and inflate a compressed one without bound.
      response.status = 415;
    } else {
      return HandlerResponse::Unhandled;
    }
    return CloseAfter(response);
  }

  // Any body is left unread and would be taken for the next request: the connection is closed
  // after the response (httplib 0.11 itself would keep it open), and the client told so.
  static HandlerResponse CloseAfter(httplib::Response& response) {
    response.set_header("Connection", "close");
    if (t_connection != nullptr) t_connection->close_after_response = true;
    return HandlerResponse::Handled;
  }

  static std::string DeadlineMessage(std::chrono::milliseconds timeout) {
    return "request not received whole within " + std::to_string(timeout.count()) +
           " ms; send it faster";
  }

  // Serves one accepted connection, on the thread (and in the slot) ConnectionThreads gave it,
  // and closes it.
  void ServeConnection(int socket) {
    const Slot slot = t_slot;
    const std::string client = SocketAddress(socket, /*peer=*/true);
    if (slot == Slot::kRefuse) {
      SendRefusal(socket, 1, "the server is at its connection limit; retry");
    } else if (!per_client.TryEnter(client)) {
      SendRefusal(socket, 1,
                  "too many connections from " + client + " (at most " +
                      std::to_string(options.max_connections_per_client) +
                      " at once); retry after closing one");
    } else {
      ServeRequests(socket, slot);
      per_client.Leave(client);
    }
    shutdown(socket, SHUT_RDWR);
    close(socket);
  }

  // Serves a connection's requests, each within its own deadline, until the client closes it,
  // asks to close it, or a request cannot be read whole in time.
  void ServeRequests(int socket, Slot slot) {
    DeadlineSocket deadline_socket(
        socket, wake_fd,
        std::chrono::duration_cast<std::chrono::milliseconds>(options.write_timeout),
        options.max_body_bytes + kMaxHeaderBytes);
    ConnectionContext context;
    context.slot = slot;
    context.socket = &deadline_socket;
    context.timeout =
        slot == Slot::kHealthOnly
            ? options.health_timeout
            : std::chrono::duration_cast<std::chrono::milliseconds>(options.request_timeout);
    t_connection = &context;
    DeadlineStream stream(deadline_socket);
    for (int served = 0; served < kMaxRequestsPerConnection; ++served) {
      deadline_socket.BeginRequest(std::chrono::steady_clock::now() + context.timeout);
      const bool last = served + 1 == kMaxRequestsPerConnection || slot == Slot::kHealthOnly;
      bool client_closes = false;
      const bool answered = server.ServeRequest(stream, last, client_closes);
      if (!answered && deadline_socket.read_expired() && deadline_socket.request_bytes() > 0) {
        // The deadline passed inside the request line, before httplib could answer anything.
        const std::string message = DeadlineMessage(context.timeout);
        const std::string response =
            "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain; "
            "charset=utf-8\r\nContent-Length: " +
            std::to_string(message.size()) + "\r\n\r\n" + message;
        deadline_socket.Write(response.data(), response.size());
      }
      if (!answered || last || client_closes || deadline_socket.read_expired() ||
          context.close_after_response) {
        break;
      }
    }
    t_connection = nullptr;
  }

  static void NotAllowed(const std::string& allowed_method, httplib::Response& response) {
    response.status = 405;
    response.set_header("Allow", allowed_method == "GET" ? "GET, HEAD" : allowed_method);
  }

  // Serves `path` with `handler` for `method` (GET or POST), and 405 for the other one.
  void Route(const std::string& path, const std::string& method, Handler handler) {
    routes[path] = method;
    Handler guarded = [handler = std::move(handler)](const httplib::Request& request,
                                                     httplib::Response& response) {
      try {
        handler(request, response);
      } catch (const std::exception& e) {
        spdlog::error("http: {} {} failed: {}", request.method, request.path, e.what());
        response = httplib::Response();
        response.status = 500;
      } catch (...) {
        spdlog::error("http: {} {} failed with an unknown exception", request.method, request.path);
        response = httplib::Response();
        response.status = 500;
      }
    };
    Handler not_allowed = [method](const httplib::Request&, httplib::Response& response) {
      NotAllowed(method, response);
    };
    // httplib takes patterns as regular expressions; ours are plain paths with no metacharacters
    // but for the jobs API's one (AddJobsRoutes).
    server.Get(path, method == "GET" ? guarded : not_allowed);
    server.Post(path, method == "POST" ? guarded : not_allowed);
  }

  void AddRoutes() {
    Route("/healthz", "GET", [](const httplib::Request&, httplib::Response& response) {
      response.set_content("ok", "text/plain; charset=utf-8");
    });
    if (handlers.ready) {
      Route("/readyz", "GET", [this](const httplib::Request&, httplib::Response& response) {
        const Readiness readiness = handlers.ready();
        if (readiness.ready) {
          response.set_content(readiness.reason.empty() ? "ok" : readiness.reason,
                               "text/plain; charset=utf-8");
        } else {
          response.status = 503;
          response.set_content(readiness.reason, "text/plain; charset=utf-8");
        }
      });
    }
    if (handlers.metrics) {
      Route("/metrics", "GET", [this](const httplib::Request&, httplib::Response& response) {
        response.set_content(handlers.metrics(), "text/plain; version=0.0.4; charset=utf-8");
      });
    }
    if (handlers.status) {
      Route("/api/v1/status", "GET", [this](const httplib::Request&, httplib::Response& response) {
        response.set_content(handlers.status(), "application/json");
      });
    }
    if (handlers.jobs) AddJobsRoutes();
    if (handlers.index_html) {
      Route("/", "GET", [this](const httplib::Request&, httplib::Response& response) {
        response.set_content(handlers.index_html(), "text/html; charset=utf-8");
      });
    }
    if (handlers.webhook) {
      for (WebhookKind kind : kWebhookKinds) {
        Route(std::string("/hooks/") + WebhookKindName(kind), "POST",
              [this, kind](const httplib::Request& request, httplib::Response& response) {
                HandleWebhookRequest(kind, request, response);
              });
      }
    }
  }

  // The jobs API: the list at /api/v1/jobs, a job below it.
  void AddJobsRoutes() {
    Handler serve = [this](const httplib::Request& request, httplib::Response& response) {
      ApiRequest api;
      api.subpath = request.path.substr(std::string_view("/api/v1/jobs").size());
      api.params.insert(request.params.begin(), request.params.end());
      api.if_none_match = request.get_header_value("If-None-Match");
      ApiResponse answer = handlers.jobs(api);
      response.status = answer.status;
      if (!answer.etag.empty()) response.set_header("ETag", answer.etag);
      // Revalidated on every poll, never taken from a cache unasked.
      response.set_header("Cache-Control", "no-cache");
      if (answer.status != 304) response.set_content(answer.body, "application/json");
    };
    Route("/api/v1/jobs", "GET", serve);
    // httplib takes this pattern as a regular expression, and matches it against the whole,
    // percent-decoded path.
    Route("/api/v1/jobs/.+", "GET", serve);
  }

  void HandleWebhookRequest(WebhookKind kind, const httplib::Request& request,
                            httplib::Response& response) {
    const auto header = [&request](std::string_view name) {
      return request.get_header_value(std::string(name));
    };
    // A forgery costs a hash and never a token of genuine deliveries.
    if (std::optional<WebhookResult> rejected =
            handlers.webhook_authenticate(kind, header, request.body)) {
      response.status = rejected->http_status;
      response.set_content(rejected->message, "text/plain; charset=utf-8");
      return;
    }
    int retry_after = 0;
    if (options.webhook_rate_per_second > 0 && !webhook_bucket.TryTake(&retry_after)) {
      response.status = 429;
      response.set_header("Retry-After", std::to_string(retry_after));
      return;
    }
    const WebhookResult result = handlers.webhook(kind, header, request.body);
    response.status = result.http_status;
    response.set_content(result.message, "text/plain; charset=utf-8");
  }

  HttpServerOptions options;
  HttpHandlers handlers;
  TokenBucket webhook_bucket;
  ClientConnectionCounter per_client;
  std::map<std::string, std::string> routes;  // path -> the method it takes
  // Readable once Stop() begins: ends every connection's waits.
  int wake_fd = -1;
  BoundedServer server;
  std::thread thread;
  bool started = false;

  ~Impl() {
    if (wake_fd >= 0) close(wake_fd);
  }

  // Set by the serving thread when httplib's listen returns.
  std::mutex mutex;
  std::condition_variable changed;
  bool listen_returned = false;
};

AgentHttpServer::AgentHttpServer(HttpServerOptions options, HttpHandlers handlers)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handlers))) {}

AgentHttpServer::~AgentHttpServer() { Stop(); }

Status AgentHttpServer::Start() {
  if (impl_->started) return FailedPreconditionError("the HTTP server was already started");
  if (impl_->handlers.webhook && !impl_->handlers.webhook_authenticate) {
    return FailedPreconditionError(
        "the HTTP server's webhook handler needs webhook_authenticate, which checks signatures "
        "before the rate limit");
  }
  std::string host;
  int port = 0;
  JOBSYNC_RETURN_IF_ERROR(ParseListenAddress(impl_->options.listen, &host, &port));
  if (port == 0) {
    port = impl_->server.bind_to_any_port(host);
  } else if (!impl_->server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) {
    return UnavailableError("cannot listen on " + impl_->options.listen +
                            ": the port is in use or the host is not an address of this machine; "
                            "choose another address with --listen");
  }
  impl_->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl_->wake_fd < 0) {
    return UnavailableError(std::string("cannot create the HTTP server's stop event: ") +
                            std::strerror(errno));
  }
  port_ = port;
  impl_->started = true;
  impl_->thread = std::thread([impl = impl_.get()] {
    // A client that hangs up early must cost an EPIPE, not the whole process: DeadlineSocket
    // sends with MSG_NOSIGNAL, and this mask covers any send of httplib's own. The connection
    // threads, started from this one, inherit it.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    impl->server.listen_after_bind();
    std::lock_guard<std::mutex> lock(impl->mutex);
    impl->listen_returned = true;
    impl->changed.notify_all();
  });
  // httplib's stop() does nothing until the accept loop runs: wait for it, so that a Stop()
  // right after Start() cannot leave the thread serving forever.
  std::unique_lock<std::mutex> lock(impl_->mutex);
  while (!impl_->server.is_running() && !impl_->listen_returned) {
    impl_->changed.wait_for(lock, std::chrono::milliseconds(1));
  }
  return OkStatus();
}

void AgentHttpServer::Stop() {
  if (!impl_->thread.joinable()) return;
  // Connections in flight stop waiting for their clients; then the accept loop ends and its
  // task queue joins their threads.
  const uint64_t one = 1;
  (void)write(impl_->wake_fd, &one, sizeof(one));
  impl_->server.stop();
  impl_->thread.join();
}

Status ParseListenAddress(std::string_view address, std::string* host, int* port) {
  const auto invalid = [&] {
    return InvalidArgumentError("listen address \"" + std::string(address) +
                                "\" is not host:port or [ipv6]:port, e.g. 127.0.0.1:8080 or "
                                "[::1]:8080");
  };
  std::string_view host_part;
  std::string_view port_part;
  if (address.starts_with('[')) {
    const size_t close = address.find("]:");
    if (close == std::string_view::npos) return invalid();
    host_part = address.substr(1, close - 1);
    port_part = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return invalid();
    host_part = address.substr(0, colon);
    port_part = address.substr(colon + 1);
    // An unbracketed IPv6 address is ambiguous: which colon starts the port?
    if (host_part.find(':') != std::string_view::npos) return invalid();
  }
  if (host_part.empty() || port_part.empty()) return invalid();
  int value = 0;
  const auto [end, error] =
      std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
  if (error != std::errc() || end != port_part.data() + port_part.size() || value < 0 ||
      value > 65535) {
    return invalid();
  }
  *host = std::string(host_part);
  *port = value;
  return OkStatus();
}

}  // namespace jobsync
