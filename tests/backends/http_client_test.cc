// Both HttpClients (cpprestsdk's and libcurl's) against a real HTTP server on loopback
// (cpp-httplib): methods, bodies, queries and headers as sent; answers beyond the configured size
// limits refused with a clear error instead of being held; a silent server a timeout; a stream
// stopped by its reader or cancelled from another thread; the User-Agent; a CredentialSource asked
// per request and renewed once after a 401. And the system's trust store, parsed once for every TLS
// context.
#include "backends/http_client.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <unistd.h>

#include "tests/test_secrets.h"

namespace jobsync {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using HttpClientFactory = StatusOr<std::unique_ptr<HttpClient>> (*)(const HttpClientConfig&);

class HttpClientLimitsTest : public ::testing::TestWithParam<HttpClientFactory> {
 protected:
  void SetUp() override {
    // Echoes what arrived: method, Content-Type, the query's q, the header X-Test and the body.
    auto echo = [](const httplib::Request& request, httplib::Response& response) {
      response.set_content(request.method + "|" + request.get_header_value("Content-Type") + "|" +
                               request.get_param_value("q") + "|" +
                               request.get_header_value("X-Test") + "|" + request.body,
                           "text/plain");
    };
    server_.Get("/echo", echo);
    server_.Post("/echo", echo);
    server_.Put("/echo", echo);
    server_.Patch("/echo", echo);
    server_.Delete("/echo", echo);
    server_.Get("/slow", [](const httplib::Request&, httplib::Response& response) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      response.set_content("late", "text/plain");
    });
    // One line, then nothing (a quiet watch) until the client goes or the server stops.
    server_.Get("/quiet", [this](const httplib::Request&, httplib::Response& response) {
      response.set_chunked_content_provider(
          "application/json", [this](size_t offset, httplib::DataSink& sink) {
            if (offset == 0) return sink.write("{\"a\":1}\n", 8);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            return !stopping_.load() && sink.is_writable();
          });
    });
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
    // 200 with the User-Agent for the token "good-t0ken-value", else 401; counts the requests.
    auto whoami = [this](const httplib::Request& request, httplib::Response& response) {
      ++requests_;
      if (request.get_header_value("Authorization") != "Bearer good-t0ken-value") {
        response.status = 401;
        response.set_content(R"({"kind":"Status","message":"Unauthorized"})", "application/json");
        return;
      }
      response.set_content(request.get_header_value("User-Agent") + "\n", "text/plain");
    };
    server_.Get("/whoami", whoami);
    server_.Get("/whoami-stream", whoami);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    stopping_ = true;
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  std::unique_ptr<HttpClient> Client(std::shared_ptr<CredentialSource> credentials = nullptr,
                                     const std::string& token = "",
                                     std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    HttpClientConfig config;
    config.base_url = "http://127.0.0.1:" + std::to_string(port_);
    config.credentials = std::move(credentials);
    config.bearer_token = token;
    config.max_body_bytes = 1 << 20;
    config.max_line_bytes = 1000;
    config.default_timeout = timeout;
    StatusOr<std::unique_ptr<HttpClient>> client = GetParam()(config);
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
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  int port_ = 0;
  std::thread thread_;
};

TEST_P(HttpClientLimitsTest, SendsTheMethodBodyQueryAndHeaders) {
  std::unique_ptr<HttpClient> client = Client();
  for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    HttpRequest request;
    request.method = method;
    request.path = "/echo";
    request.query = {{"q", "a b&c=d/é"}};
    request.headers = {{"X-Test", "yes"}};
    const bool with_body = std::string(method) != "GET";
    if (with_body) {
      request.body = std::string(method) + " {\"x\":1}";
      request.content_type = "application/merge-patch+json";
    }
    StatusOr<HttpResponse> response = client->Send(request);
    ASSERT_TRUE(response.ok()) << method << ": " << response.status().ToString();
    EXPECT_EQ(response->status, 200) << method;
    EXPECT_EQ(response->headers["content-type"], "text/plain") << method;
    EXPECT_EQ(response->body, std::string(method) + "|" +
                                  (with_body ? "application/merge-patch+json" : "") +
                                  "|a b&c=d/é|yes|" + request.body);
  }
}

TEST_P(HttpClientLimitsTest, AServerSilentForLongerThanTheTimeoutIsADeadline) {
  HttpRequest request;
  request.path = "/slow";
  StatusOr<HttpResponse> response =
      Client(nullptr, "", std::chrono::milliseconds(300))->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kDeadlineExceeded)
      << response.status().ToString();
  EXPECT_THAT(response.status().message(), HasSubstr("/slow: no response within the timeout"));
}

TEST_P(HttpClientLimitsTest, AReaderThatStopsEndsTheStream) {
  HttpRequest request;
  request.path = "/quiet";
  std::vector<std::string> lines;
  StatusOr<HttpResponse> response = Client()->Stream(
      request,
      [&](std::string_view line) {
        lines.emplace_back(line);
        return false;
      },
      HttpCancellation());
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}"));
}

TEST_P(HttpClientLimitsTest, AQuietStreamIsCancelledFromAnotherThread) {
  HttpRequest request;
  request.path = "/quiet";
  HttpCancellation cancel;
  std::atomic<int> lines{0};
  std::thread canceller([&] {
    while (lines.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    cancel.Cancel();
  });
  // Without the cancellation the stream would end only at the 30 s timeout, as a deadline.
  StatusOr<HttpResponse> response = Client()->Stream(
      request,
      [&](std::string_view) {
        ++lines;
        return true;
      },
      cancel);
  canceller.join();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable) << response.status().ToString();
  EXPECT_THAT(response.status().message(), HasSubstr("/quiet: cancelled"));
  EXPECT_EQ(lines.load(), 1);
}

TEST_P(HttpClientLimitsTest, ABodyWithinTheLimitIsReadWhole) {
  HttpRequest request;
  request.path = "/bytes";
  request.query = {{"n", std::to_string((1 << 20) - 1000)}};
  StatusOr<HttpResponse> response = Client()->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->body, std::string((1 << 20) - 1000, 'x'));
}

TEST_P(HttpClientLimitsTest, ABodyBeyondTheLimitIsRefused) {
  HttpRequest request;
  request.path = "/bytes";
  request.query = {{"n", std::to_string((1 << 20) + 1)}};
  StatusOr<HttpResponse> response = Client()->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(response.status().message(),
              HasSubstr("/bytes: the response is larger than 1 MiB; refusing it"));
}

TEST_P(HttpClientLimitsTest, StreamDeliversEveryLineIncludingAnUnterminatedLastOne) {
  std::vector<std::string> lines;
  StatusOr<HttpResponse> response = StreamLines("/lines", &lines);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}", "{\"b\":2}", "{\"c\":3}"));
}

TEST_P(HttpClientLimitsTest, AStreamLineBeyondTheLimitIsRefused) {
  std::vector<std::string> lines;
  StatusOr<HttpResponse> response = StreamLines("/long-line", &lines);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(response.status().message(),
              HasSubstr("a line of the stream is longer than 1000 bytes"));
  EXPECT_THAT(lines, ElementsAre("{\"a\":1}"));
}

// Gives `tokens` in turn, the next one after each Invalidate of the current one.
class SequenceSource : public CredentialSource {
 public:
  explicit SequenceSource(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}
  StatusOr<HttpCredential> Current() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (next_ >= tokens_.size()) return PermissionDeniedError("no more tokens in the test");
    return HttpCredential{tokens_[next_], "", ""};
  }
  bool Invalidate(const HttpCredential& rejected) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++invalidations;
    if (next_ < tokens_.size() && tokens_[next_] == rejected.bearer_token) ++next_;
    return next_ < tokens_.size();
  }
  std::string Describe() const override { return "the test's token sequence"; }
  int invalidations = 0;

 private:
  std::mutex mutex_;
  std::vector<std::string> tokens_;
  size_t next_ = 0;
};

TEST_P(HttpClientLimitsTest, EveryRequestSaysJobsyncAndItsVersion) {
  HttpRequest request;
  request.path = "/whoami";
  StatusOr<HttpResponse> response = Client(nullptr, "good-t0ken-value")->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->body, "jobsync/" JOBSYNC_VERSION "\n");
}

TEST_P(HttpClientLimitsTest, A401RenewsTheCredentialOnce) {
  testing::RegisterTestSecret("http_client_test token", "good-t0ken-value");
  auto source = std::make_shared<SequenceSource>(
      std::vector<std::string>{"stale-t0ken-value", "good-t0ken-value"});
  HttpRequest request;
  request.path = "/whoami";
  StatusOr<HttpResponse> response = Client(source)->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(source->invalidations, 1);
  EXPECT_EQ(requests_, 2);
}

TEST_P(HttpClientLimitsTest, A401AfterRenewalFailsNamingTheSourceNotTheToken) {
  auto source = std::make_shared<SequenceSource>(
      std::vector<std::string>{"stale-t0ken-value", "other-bad-t0ken", "never-used-t0ken"});
  HttpRequest request;
  request.path = "/whoami";
  StatusOr<HttpResponse> response = Client(source)->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(response.status().message(),
              HasSubstr("GET http://127.0.0.1:" + std::to_string(port_) +
                        "/whoami: the server refused the credential from the test's token "
                        "sequence (HTTP 401 Unauthorized) again after it was renewed"));
  for (const char* token : {"stale-t0ken-value", "other-bad-t0ken", "never-used-t0ken"}) {
    EXPECT_THAT(response.status().message(), ::testing::Not(HasSubstr(token)));
  }
  EXPECT_EQ(requests_, 2);
}

TEST_P(HttpClientLimitsTest, AStreamRenewsTheCredentialBeforeAnyLine) {
  auto source = std::make_shared<SequenceSource>(
      std::vector<std::string>{"stale-t0ken-value", "good-t0ken-value"});
  HttpRequest request;
  request.path = "/whoami-stream";
  std::vector<std::string> lines;
  StatusOr<HttpResponse> response = Client(source)->Stream(
      request,
      [&](std::string_view line) {
        lines.emplace_back(line);
        return true;
      },
      HttpCancellation());
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_THAT(lines, ElementsAre("jobsync/" JOBSYNC_VERSION));
  EXPECT_EQ(source->invalidations, 1);
}

TEST_P(HttpClientLimitsTest, AFixedTokensRefusalIsTheCallersAnswer) {
  HttpRequest request;
  request.path = "/whoami";
  StatusOr<HttpResponse> response = Client(nullptr, "stale-t0ken-value")->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 401);
  EXPECT_EQ(requests_, 1);
}

TEST_P(HttpClientLimitsTest, ASourceThatCannotGiveACredentialFailsTheRequest) {
  auto source = std::make_shared<SequenceSource>(std::vector<std::string>{});
  HttpRequest request;
  request.path = "/whoami";
  StatusOr<HttpResponse> response = Client(source)->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(response.status().message(), HasSubstr("/whoami: no more tokens in the test"));
  EXPECT_EQ(requests_, 0);
}

INSTANTIATE_TEST_SUITE_P(Implementations, HttpClientLimitsTest,
                         ::testing::Values(&NewHttpClient, &NewCurlHttpClient),
                         [](const ::testing::TestParamInfo<HttpClientFactory>& param) {
                           return param.param == &NewHttpClient ? std::string("CppRest")
                                                                : std::string("Curl");
                         });

// cpprestsdk's connections get their system trust store from SSL_CTX_set_default_verify_paths;
// jobsync defines it so that the store is parsed once (http_client.cc). The definition must be
// the one the dynamic linker gives libraries, or cpprestsdk still calls OpenSSL's.
TEST(SystemTrustStoreTest, LibrariesCallJobsyncsDefaultVerifyPaths) {
  void* libssl = dlopen("libssl.so.3", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(libssl, nullptr) << dlerror();
  void* openssls = dlsym(libssl, "SSL_CTX_set_default_verify_paths");
  void* found = dlsym(RTLD_DEFAULT, "SSL_CTX_set_default_verify_paths");
  dlclose(libssl);
  ASSERT_NE(openssls, nullptr);
  EXPECT_NE(found, openssls) << "OpenSSL's SSL_CTX_set_default_verify_paths is the one called";
}

// Parsed once, shared by every context, and parsed again when SSL_CERT_FILE or SSL_CERT_DIR
// (OpenSSL's default paths) change.
TEST(SystemTrustStoreTest, ContextsShareOneParsedStoreUntilItsPathsChange) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("jobsync-trust-" + std::to_string(::getpid()));
  fs::create_directories(dir / "empty");
  ASSERT_EQ(std::system(("cd '" + dir.string() +
                         "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                         "-nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=trust-test "
                         "2>/dev/null")
                            .c_str()),
            0);
  testing::RegisterTestPrivateKey("trust store test key", (dir / "ca.key").string());
  auto store_of_new_context = [](std::vector<SSL_CTX*>* contexts) {
    SSL_CTX* context = SSL_CTX_new(TLS_client_method());
    EXPECT_EQ(SSL_CTX_set_default_verify_paths(context), 1);
    contexts->push_back(context);
    return SSL_CTX_get_cert_store(context);
  };
  auto authorities = [](X509_STORE* store) {
    return sk_X509_OBJECT_num(X509_STORE_get0_objects(store));
  };
  std::vector<SSL_CTX*> contexts;
  X509_STORE* system = store_of_new_context(&contexts);
  EXPECT_EQ(store_of_new_context(&contexts), system);
  const int system_authorities = authorities(system);

  // The test's CA alone, then the paths as they were (set or not).
  const std::vector<std::string> variables = {X509_get_default_cert_file_env(),
                                              X509_get_default_cert_dir_env()};
  std::vector<std::optional<std::string>> before;
  for (const std::string& name : variables) {
    const char* value = std::getenv(name.c_str());
    before.push_back(value == nullptr ? std::nullopt : std::optional<std::string>(value));
  }
  setenv(variables[0].c_str(), (dir / "ca.crt").c_str(), 1);
  setenv(variables[1].c_str(), (dir / "empty").c_str(), 1);
  X509_STORE* test_ca = store_of_new_context(&contexts);
  X509_STORE* again = store_of_new_context(&contexts);
  for (size_t i = 0; i < variables.size(); ++i) {
    if (before[i]) {
      setenv(variables[i].c_str(), before[i]->c_str(), 1);
    } else {
      unsetenv(variables[i].c_str());
    }
  }
  EXPECT_NE(test_ca, system);
  EXPECT_EQ(again, test_ca);
  EXPECT_EQ(authorities(test_ca), 1);

  X509_STORE* back = store_of_new_context(&contexts);
  EXPECT_NE(back, test_ca);
  EXPECT_EQ(authorities(back), system_authorities);
  EXPECT_EQ(authorities(system), system_authorities) << "a context's store was freed under it";
  for (SSL_CTX* context : contexts) SSL_CTX_free(context);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace jobsync
