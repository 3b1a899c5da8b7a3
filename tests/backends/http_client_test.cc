// The cpprestsdk-based HttpClient against a real HTTP server on loopback (cpp-httplib): answers
// beyond the configured size limits are refused with a clear error instead of being held.
#include "backends/http_client.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

namespace jobsync {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class HttpClientLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get("/bytes", [](const httplib::Request& request, httplib::Response& response) {
      response.set_content(std::string(std::stoul(request.get_param_value("n")), 'x'),
                           "text/plain");
    });
    server_.Get("/lines", [](const httplib::Request&, httplib::Response& response) {
      response.set_content("{\"a\":1}\r\n\n{\"b\":2}\n{\"c\":3}", "application/json");
    });
    server_.Get("/long-line", [](const httplib::Request&, httplib::Response& response) {
      response.set_content("{\"a\":1}\n" + std::string(5000, 'y') + "\n{\"b\":2}\n",
                           "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  std::unique_ptr<HttpClient> Client() {
    HttpClientConfig config;
    config.base_url = "http://127.0.0.1:" + std::to_string(port_);
    config.max_body_bytes = 1 << 20;
    config.max_line_bytes = 1000;
    StatusOr<std::unique_ptr<HttpClient>> client = NewHttpClient(config);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return std::move(*client);
  }

  // Streams `path`, collecting its lines into `lines`.
  StatusOr<HttpResponse> StreamLines(const std::string& path, std::vector<std::string>* lines) {
    HttpRequest request;
    request.path = path;
    return Client()->Stream(
        request,
        [&](std::string_view line) {
          lines->emplace_back(line);
          return true;
        },
        HttpCancellation());
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(HttpClientLimitsTest, ABodyWithinTheLimitIsReadWhole) {
  HttpRequest request;
  request.path = "/bytes";
  request.query = {{"n", std::to_string((1 << 20) - 1000)}};
  StatusOr<HttpResponse> response = Client()->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->body, std::string((1 << 20) - 1000, 'x'));
}

TEST_F(HttpClientLimitsTest, ABodyBeyondTheLimitIsRefused) {
  HttpRequest request;
  request.path = "/bytes";
  request.query = {{"n", std::to_string((1 << 20) + 1)}};
  StatusOr<HttpResponse> response = Client()->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(response.status().message(),
              HasSubstr("/bytes: the response is larger than 1 MiB; refusing it"));
}

TEST_F(HttpClientLimitsTest, StreamDeliversEveryLineIncludingAnUnterminatedLastOne) {
  std::vector<std::string> lines;
  StatusOr<HttpResponse> response = StreamLines("/lines", &lines);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}", "{\"b\":2}", "{\"c\":3}"));
}

TEST_F(HttpClientLimitsTest, AStreamLineBeyondTheLimitIsRefused) {
  std::vector<std::string> lines;
  StatusOr<HttpResponse> response = StreamLines("/long-line", &lines);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(response.status().message(),
              HasSubstr("a line of the stream is longer than 1000 bytes"));
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}"));
}

}  // namespace
}  // namespace jobsync
