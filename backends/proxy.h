// HTTP proxy choice as Go's net/http (and so kubectl) makes it from the environment: HTTPS_PROXY
// for https:// servers, HTTP_PROXY for http:// ones, unless NO_PROXY covers the server. Pure
// functions over a ProxyEnvironment; only ProxyEnvironment::FromProcess reads the environment.
//
// NO_PROXY is a comma-separated list; each entry is one of
//   "*"                 every host;
//   an IP address       that address exactly ("10.0.0.1", "::1");
//   a CIDR block        every address in it ("10.0.0.0/8", "fd00::/8");
//   "example.com"       that host and every host under it ("api.example.com");
//   ".example.com"      only the hosts under it, not example.com itself;
// and a host entry may end with ":port" to match only that port. Case does not matter. As in Go,
// "localhost" and loopback addresses are never sent through an environment proxy.
#ifndef JOBSYNC_BACKENDS_PROXY_H_
#define JOBSYNC_BACKENDS_PROXY_H_

#include <string>
#include <string_view>

namespace jobsync {

// The proxy variables of the environment; the upper-case name wins over the lower-case one.
struct ProxyEnvironment {
  std::string https_proxy;  // $HTTPS_PROXY, else $https_proxy
  std::string http_proxy;   // $HTTP_PROXY, else $http_proxy
  std::string no_proxy;     // $NO_PROXY, else $no_proxy

  static ProxyEnvironment FromProcess();
};

// The proxy URL for requests to `server_url` ("https://host[:port]..."), or "" for none. A proxy
// given without a scheme ("proxy:3128") gets "http://", as Go reads it.
std::string ProxyFromEnvironment(std::string_view server_url, const ProxyEnvironment& environment);

// True when the NO_PROXY list `no_proxy` covers `host` (a name or an IP address, IPv6 without
// brackets) at `port`.
bool NoProxyMatches(std::string_view no_proxy, std::string_view host, int port);

// `url` with the password of its user information replaced by "xxxxx"
// ("http://me:xxxxx@proxy:3128"), for messages. Other URLs are returned as they are.
std::string RedactUrl(std::string_view url);

// The parts of an "http://[user[:password]@]host[:port]" proxy URL, percent-decoded.
struct ProxyUrl {
  std::string scheme;  // lower case
  std::string host;    // IPv6 without brackets
  int port = 0;        // 0 when not given
  std::string user;
  std::string password;
};

// Splits `url`; false when it has no "scheme://host".
bool ParseProxyUrl(std::string_view url, ProxyUrl* out);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_PROXY_H_
