// The HTTP server's bounds against hostile clients, over real loopback sockets: slow-header
// clients beyond the server's threads, connections beyond the per-client and total bounds, and
// a flood of unsigned webhooks. Clients that must count as other hosts bind another address of
// 127.0.0.0/8 (all of it is the loopback interface on Linux).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/server/http_server.h"
#include "agent/server/webhook.h"

// The same definitions as the library was built with (see agent/server/http_server.cc).
#if !defined(CPPHTTPLIB_OPENSSL_SUPPORT) || !defined(CPPHTTPLIB_ZLIB_SUPPORT) || \
    !defined(CPPHTTPLIB_BROTLI_SUPPORT)
#error "build with the compile definitions of pkg-config cpp-httplib (PkgConfig::CPPHTTPLIB)"
#endif
#include <httplib.h>

#include "tests/test_secrets.h"

namespace jobsync {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kSecret = "bounds-test-webhook-s3cret-77d1";
using std::chrono::microseconds;
using std::chrono::milliseconds;

// A TCP connection to 127.0.0.1:`port` from `source` (an address of 127.0.0.0/8); closed on
// destruction.
class RawConnection {
 public:
  RawConnection(const char* source, int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, source, &local.sin_addr);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
    connected_ = fd_ >= 0 &&
                 bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) == 0 &&
                 connect(fd_, reinterpret_cast<const sockaddr*>(&remote), sizeof(remote)) == 0;
    if (!connected_) error_ = std::string(source) + ": " + std::strerror(errno);
  }
  ~RawConnection() {
    if (fd_ >= 0) close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  const std::string& error() const { return error_; }

  bool Send(std::string_view data) {
    return send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }

  // Reads what arrives within `wait`. Returns false once the server has closed the connection
  // (end of stream or reset), true while it is open.
  bool Receive(milliseconds wait, std::string* received) {
    const Clock::time_point until = Clock::now() + wait;
    while (true) {
      const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      pollfd entry{fd_, POLLIN, 0};
      if (poll(&entry, 1, static_cast<int>(std::max<int64_t>(0, left.count()))) <= 0) return true;
      char buffer[4096];
      const ssize_t got = recv(fd_, buffer, sizeof(buffer), 0);
      if (got <= 0) return false;
      received->append(buffer, static_cast<size_t>(got));
    }
  }

 private:
  int fd_;
  bool connected_ = false;
  std::string error_;
};

class BoundsServerTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options, HttpHandlers handlers = {}) {
    options.listen = "127.0.0.1:0";
    server_ = std::make_unique<AgentHttpServer>(options, std::move(handlers));
    const Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
  }

  // GET /healthz on a new connection from 127.0.0.1: the status (0 when it failed) and the time
  // it took.
  std::pair<int, microseconds> TimedHealthz() {
    httplib::Client client("127.0.0.1", server_->port());
    client.set_connection_timeout(5);
    client.set_read_timeout(5);
    const Clock::time_point start = Clock::now();
    auto response = client.Get("/healthz");
    const auto took = std::chrono::duration_cast<microseconds>(Clock::now() - start);
    return {response ? response->status : 0, took};
  }

  std::unique_ptr<AgentHttpServer> server_;
};

// What one slow client saw: when the server closed its connection, and what it answered.
struct SlowClientOutcome {
  bool connected = false;
  bool closed = false;
  milliseconds closed_after{0};
  std::string received;
};

// A request a slow client sends: `at_once` in one piece, then `trickled` a byte every 500 ms.
struct SlowRequest {
  std::string at_once;
  std::string trickled;
};

// The three places a request can stall: its request line, its headers, its body.
SlowRequest SlowRequestKind(int kind) {
  const std::string headers = "Host: jobsync\r\nX-Slow: " + std::string(200, 'a') + "\r\n\r\n";
  switch (kind % 3) {
    case 0:
      return {"", "GET /api/v1/status HTTP/1.1\r\n" + headers};
    case 1:
      return {"GET /api/v1/status HTTP/1.1\r\n", headers};
    default:
      return {
          "POST /hooks/generic HTTP/1.1\r\nHost: jobsync\r\nContent-Type: "
          "application/json\r\nContent-Length: 200\r\n\r\n",
          std::string(200, ' ')};
  }
}

// Sends `request` from `source` until the server closes the connection or `give_up` passes.
SlowClientOutcome RunSlowClient(const char* source, int port, const SlowRequest& request,
                                milliseconds give_up) {
  SlowClientOutcome outcome;
  RawConnection connection(source, port);
  outcome.connected = connection.connected();
  if (!outcome.connected) return outcome;
  const Clock::time_point start = Clock::now();
  connection.Send(request.at_once);
  for (size_t i = 0; Clock::now() - start < give_up; ++i) {
    if (i < request.trickled.size()) connection.Send(request.trickled.substr(i, 1));
    if (!connection.Receive(milliseconds(500), &outcome.received)) {
      outcome.closed = true;
      break;
    }
  }
  outcome.closed_after = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  return outcome;
}

TEST_F(BoundsServerTest, HealthzAnswersWithinASecondWhileSlowClientsHoldConnections) {
  HttpServerOptions options;
  options.request_timeout = std::chrono::seconds(3);
  testing::RegisterTestSecret("http_server_bounds_test webhook secret", kSecret);
  HttpHandlers handlers;
  handlers.status = [] { return std::string("{}"); };
  handlers.webhook_authenticate =
      [](WebhookKind kind, const std::function<std::string(std::string_view)>& header,
         std::string_view body) { return AuthenticateWebhook(kind, header, body, kSecret); };
  handlers.webhook = [](WebhookKind, const std::function<std::string(std::string_view)>&,
                        std::string_view) { return WebhookResult{}; };
  Start(options, handlers);
  // Twice the four threads the server had; from another address, as the per-client bound would
  // refuse the rest of them from one.
  constexpr int kSlowClients = 8;
  std::vector<SlowClientOutcome> outcomes(kSlowClients);
  std::vector<std::thread> slow;
  for (int i = 0; i < kSlowClients; ++i) {
    slow.emplace_back([&, i] {
      outcomes[i] =
          RunSlowClient("127.0.0.2", server_->port(), SlowRequestKind(i), std::chrono::seconds(8));
    });
  }
  std::this_thread::sleep_for(milliseconds(300));

  // Throughout the deadline and past it: every 250 ms for 4.5 s.
  microseconds slowest{0};
  int probes = 0;
  for (const Clock::time_point until = Clock::now() + milliseconds(4500); Clock::now() < until;
       ++probes) {
    const auto [status, took] = TimedHealthz();
    EXPECT_EQ(status, 200) << "probe " << probes << " after " << took.count() << " us";
    EXPECT_LT(took, milliseconds(1000)) << "probe " << probes;
    slowest = std::max(slowest, took);
    std::this_thread::sleep_for(milliseconds(250));
  }
  for (std::thread& thread : slow) thread.join();
  std::cout << "healthz under " << kSlowClients << " slow clients: " << probes
            << " probes, slowest " << slowest.count() << " us\n";

  for (int i = 0; i < kSlowClients; ++i) {
    SCOPED_TRACE("slow client " + std::to_string(i) + ", stalled in its " +
                 (i % 3 == 0   ? "request line"
                  : i % 3 == 1 ? "headers"
                               : "body"));
    ASSERT_TRUE(outcomes[i].connected);
    // Closed by the 3 s deadline (not earlier: its bytes kept coming), with a 408.
    EXPECT_TRUE(outcomes[i].closed);
    EXPECT_GE(outcomes[i].closed_after, milliseconds(2900));
    EXPECT_LE(outcomes[i].closed_after, milliseconds(5000));
    EXPECT_TRUE(outcomes[i].received.starts_with("HTTP/1.1 408 ")) << outcomes[i].received;
  }
}

TEST_F(BoundsServerTest, RefusesConnectionsBeyondThePerClientBoundAtOnce) {
  HttpServerOptions options;
  options.max_connections_per_client = 3;
  Start(options);
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawConnection>("127.0.0.2", server_->port()));
    ASSERT_TRUE(held.back()->connected()) << held.back()->error();
  }
  // Let the server take the three before the fourth arrives.
  std::this_thread::sleep_for(milliseconds(200));

  RawConnection fourth("127.0.0.2", server_->port());
  ASSERT_TRUE(fourth.connected()) << fourth.error();
  std::string answer;
  EXPECT_FALSE(fourth.Receive(milliseconds(1000), &answer)) << "still open: " << answer;
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503 ")) << answer;
  EXPECT_NE(answer.find("Retry-After: "), std::string::npos) << answer;

  // Another client is served meanwhile.
  EXPECT_EQ(TimedHealthz().first, 200);

  // One of the three closes: its address gets a connection again.
  held.pop_back();
  std::this_thread::sleep_for(milliseconds(200));
  RawConnection again("127.0.0.2", server_->port());
  ASSERT_TRUE(again.connected()) << again.error();
  ASSERT_TRUE(again.Send("GET /healthz HTTP/1.1\r\nHost: jobsync\r\nConnection: close\r\n\r\n"));
  std::string served;
  again.Receive(milliseconds(1000), &served);
  EXPECT_TRUE(served.starts_with("HTTP/1.1 200 ")) << served;
}

TEST_F(BoundsServerTest, BeyondTheTotalBoundServesOnlyHealthThenRefuses) {
  HttpServerOptions options;
  options.max_connections = 2;
  options.health_connections = 1;
  HttpHandlers handlers;
  handlers.status = [] { return std::string(R"({"jobs":[]})"); };
  handlers.ready = [] { return Readiness{true, ""}; };
  Start(options, handlers);
  // Two idle connections take both ordinary slots.
  RawConnection first("127.0.0.2", server_->port());
  RawConnection second("127.0.0.3", server_->port());
  ASSERT_TRUE(first.connected() && second.connected()) << first.error() << second.error();
  std::this_thread::sleep_for(milliseconds(200));

  struct Case {
    const char* request;
    const char* expected_start;
  };
  for (const Case& test :
       {Case{"GET /healthz", "HTTP/1.1 200 "}, Case{"GET /api/v1/status", "HTTP/1.1 503 "},
        Case{"GET /readyz", "HTTP/1.1 200 "}}) {
    SCOPED_TRACE(test.request);
    RawConnection reserved("127.0.0.4", server_->port());
    ASSERT_TRUE(reserved.connected()) << reserved.error();
    ASSERT_TRUE(reserved.Send(std::string(test.request) +
                              " HTTP/1.1\r\nHost: jobsync\r\nConnection: close\r\n\r\n"));
    std::string answer;
    reserved.Receive(milliseconds(1000), &answer);
    EXPECT_TRUE(answer.starts_with(test.expected_start)) << answer;
    std::this_thread::sleep_for(milliseconds(100));
  }

  // With the health slot held too, a new connection is refused at once.
  RawConnection health_holder("127.0.0.4", server_->port());
  ASSERT_TRUE(health_holder.connected()) << health_holder.error();
  std::this_thread::sleep_for(milliseconds(200));
  RawConnection refused("127.0.0.5", server_->port());
  ASSERT_TRUE(refused.connected()) << refused.error();
  std::string answer;
  EXPECT_FALSE(refused.Receive(milliseconds(1000), &answer)) << "still open: " << answer;
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 503 ")) << answer;
}

TEST_F(BoundsServerTest, AFloodOfUnsignedWebhooksNeitherDelaysNorRefusesASignedOne) {
  testing::RegisterTestSecret("http_server_bounds_test webhook secret", kSecret);
  HttpServerOptions options;
  options.webhook_rate_per_second = 2;
  HttpHandlers handlers;
  handlers.webhook_authenticate =
      [](WebhookKind kind, const std::function<std::string(std::string_view)>& header,
         std::string_view body) { return AuthenticateWebhook(kind, header, body, kSecret); };
  handlers.webhook =
      [](WebhookKind kind, const std::function<std::string(std::string_view)>& header,
         std::string_view body) { return HandleWebhook(kind, header, body, kSecret, ""); };
  Start(options, handlers);

  // Four threads (within the per-client bound) post unsigned and wrongly signed webhooks.
  constexpr int kFloodThreads = 4;
  constexpr int kPerThread = 250;
  std::atomic<int> sent{0};
  std::mutex mutex;
  std::map<int, int> flood_statuses;
  std::vector<std::thread> flood;
  const Clock::time_point flood_start = Clock::now();
  for (int t = 0; t < kFloodThreads; ++t) {
    flood.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", server_->port());
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(5);
      for (int i = 0; i < kPerThread; ++i) {
        httplib::Headers headers;
        if (i % 2 == 1)
          headers.emplace("X-Jobsync-Signature-256", "sha256=" + std::string(64, '0'));
        auto response = client.Post("/hooks/generic", headers, "{\"n\":" + std::to_string(t) + "}",
                                    "application/json");
        std::lock_guard<std::mutex> lock(mutex);
        ++flood_statuses[response ? response->status : 0];
        ++sent;
      }
    });
  }
  while (sent < kFloodThreads * kPerThread / 4) std::this_thread::sleep_for(milliseconds(5));

  httplib::Client genuine("127.0.0.1", server_->port());
  genuine.set_read_timeout(5);
  const std::string body = R"({"ref":"refs/heads/main","after":"0123abcd"})";
  const Clock::time_point start = Clock::now();
  auto response =
      genuine.Post("/hooks/generic", {{"X-Jobsync-Signature-256", SignWebhookBody(kSecret, body)}},
                   body, "application/json");
  const auto took = std::chrono::duration_cast<microseconds>(Clock::now() - start);
  const int during_flood = sent;
  for (std::thread& thread : flood) thread.join();
  const auto flood_took = std::chrono::duration_cast<milliseconds>(Clock::now() - flood_start);

  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_LT(took, milliseconds(1000));
  EXPECT_LT(during_flood, kFloodThreads * kPerThread) << "the flood ended before the delivery";
  // Forgeries are refused for their signature, never counted against the rate.
  EXPECT_EQ(flood_statuses, (std::map<int, int>{{401, kFloodThreads * kPerThread}}));
  std::cout << "signed webhook during a flood of " << kFloodThreads * kPerThread << " unsigned ("
            << flood_took.count() << " ms): " << response->status << " in " << took.count()
            << " us\n";
}

}  // namespace
}  // namespace jobsync
