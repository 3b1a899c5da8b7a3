// Proxy choice from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) as Go's net/http makes
// it, and proxy URLs in messages.
#include "backends/proxy.h"

#include <gtest/gtest.h>

namespace jobsync {
namespace {

struct NoProxyCase {
  const char* no_proxy;
  const char* host;
  int port;
  bool bypass;
};

class NoProxyTest : public ::testing::TestWithParam<NoProxyCase> {};

TEST_P(NoProxyTest, MatchesAsGoDoes) {
  const NoProxyCase& c = GetParam();
  EXPECT_EQ(NoProxyMatches(c.no_proxy, c.host, c.port), c.bypass)
      << "NO_PROXY=" << c.no_proxy << " host " << c.host << ":" << c.port;
}

INSTANTIATE_TEST_SUITE_P(
    Entries, NoProxyTest,
    ::testing::Values(NoProxyCase{"", "api.example.com", 443, false},
                      NoProxyCase{"*", "api.example.com", 443, true},
                      NoProxyCase{"example.com", "example.com", 443, true},
                      NoProxyCase{"example.com", "api.example.com", 443, true},
                      NoProxyCase{"example.com", "notexample.com", 443, false},
                      NoProxyCase{".example.com", "example.com", 443, false},
                      NoProxyCase{".example.com", "api.example.com", 443, true},
                      NoProxyCase{"*.example.com", "api.example.com", 443, true},
                      NoProxyCase{"*.example.com", "example.com", 443, false},
                      NoProxyCase{"EXAMPLE.com", "Api.Example.COM", 443, true},
                      NoProxyCase{" other.org , example.com ", "api.example.com", 443, true},
                      NoProxyCase{"example.com:6443", "api.example.com", 6443, true},
                      NoProxyCase{"example.com:6443", "api.example.com", 443, false},
                      NoProxyCase{"10.1.2.3", "10.1.2.3", 443, true},
                      NoProxyCase{"10.1.2.3", "10.1.2.4", 443, false},
                      NoProxyCase{"10.0.0.0/8", "10.200.3.4", 443, true},
                      NoProxyCase{"10.0.0.0/8", "11.0.0.1", 443, false},
                      NoProxyCase{"10.0.0.0/8", "ten.example", 443, false},
                      NoProxyCase{"fd00::/8", "fd12::1", 443, true},
                      NoProxyCase{"fd00::/8", "fe80::1", 443, false},
                      NoProxyCase{"::1", "::1", 443, true},
                      NoProxyCase{"192.168.0.0/16,.internal", "db.internal", 443, true}),
    [](const ::testing::TestParamInfo<NoProxyCase>& param_info) {
      return "Case" + std::to_string(param_info.index);
    });

TEST(ProxyFromEnvironmentTest, ChoosesByScheme) {
  ProxyEnvironment env{"http://secure-proxy:3128", "http://plain-proxy:3128", ""};
  EXPECT_EQ(ProxyFromEnvironment("https://api.example.com:6443", env), "http://secure-proxy:3128");
  EXPECT_EQ(ProxyFromEnvironment("http://api.example.com", env), "http://plain-proxy:3128");
  EXPECT_EQ(ProxyFromEnvironment("https://api.example.com", ProxyEnvironment{}), "");
}

TEST(ProxyFromEnvironmentTest, NoProxyAndLoopbackBypass) {
  ProxyEnvironment env{"proxy:3128", "", "example.com,10.0.0.0/8"};
  EXPECT_EQ(ProxyFromEnvironment("https://api.example.com", env), "");
  EXPECT_EQ(ProxyFromEnvironment("https://10.9.8.7:6443", env), "");
  // As in Go: never through an environment proxy to loopback.
  EXPECT_EQ(ProxyFromEnvironment("https://127.0.0.1:6443", env), "");
  EXPECT_EQ(ProxyFromEnvironment("https://localhost:6443", env), "");
  EXPECT_EQ(ProxyFromEnvironment("https://[::1]:6443", env), "");
  // A proxy without scheme is http://.
  EXPECT_EQ(ProxyFromEnvironment("https://kubernetes:6443", env), "http://proxy:3128");
}

TEST(ProxyFromEnvironmentTest, NoProxyPortDefaultsToTheScheme) {
  ProxyEnvironment env{"http://p:1", "http://p:1", "example.com:443"};
  EXPECT_EQ(ProxyFromEnvironment("https://example.com", env), "");
  EXPECT_EQ(ProxyFromEnvironment("http://example.com", env), "http://p:1");
}

TEST(RedactUrlTest, HidesThePasswordOnly) {
  EXPECT_EQ(RedactUrl("http://me:pa55w0rd-secret@proxy:3128"), "http://me:xxxxx@proxy:3128");
  EXPECT_EQ(RedactUrl("http://me@proxy:3128"), "http://me@proxy:3128");
  EXPECT_EQ(RedactUrl("http://proxy:3128/x@y"), "http://proxy:3128/x@y");
  EXPECT_EQ(RedactUrl("proxy:3128"), "proxy:3128");
}

TEST(ParseProxyUrlTest, SplitsAndDecodes) {
  ProxyUrl url;
  ASSERT_TRUE(ParseProxyUrl("HTTP://us%40er:p%3Ass@Proxy.Example:3128/", &url));
  EXPECT_EQ(url.scheme, "http");
  EXPECT_EQ(url.host, "proxy.example");
  EXPECT_EQ(url.port, 3128);
  EXPECT_EQ(url.user, "us@er");
  EXPECT_EQ(url.password, "p:ss");
  ASSERT_TRUE(ParseProxyUrl("http://[fd00::1]:8080", &url));
  EXPECT_EQ(url.host, "fd00::1");
  EXPECT_EQ(url.port, 8080);
  EXPECT_FALSE(ParseProxyUrl("proxy:3128", &url));
}

}  // namespace
}  // namespace jobsync
