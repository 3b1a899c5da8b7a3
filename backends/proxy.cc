#include "backends/proxy.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <optional>

#include <arpa/inet.h>

namespace jobsync {
namespace {

std::string Env(const char* upper, const char* lower) {
  const char* value = std::getenv(upper);
  if (value == nullptr || *value == '\0') value = std::getenv(lower);
  return value == nullptr ? std::string() : std::string(value);
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    int value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr ==
            text.data() + i + 3) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Splits "host[:port]" or "[v6]:port"; port 0 when absent or not a number.
void SplitHostPort(std::string_view authority, std::string* host, int* port) {
  *port = 0;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    *host = std::string(
        authority.substr(1, close == std::string_view::npos ? authority.npos : close - 1));
    if (close != std::string_view::npos && close + 1 < authority.size() &&
        authority[close + 1] == ':') {
      port_text = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    // More than one colon and no brackets: an IPv6 address without a port.
    if (colon != std::string_view::npos && authority.find(':') == colon) {
      port_text = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
    }
    *host = std::string(authority);
  }
  int value = 0;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (!port_text.empty() && error == std::errc() && end == port_text.data() + port_text.size()) {
    *port = value;
  }
}

// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped into ::ffff:0:0/96) and its family width.
struct Address {
  std::array<unsigned char, 16> bytes{};
  int bits = 0;  // 32 or 128
};

std::optional<Address> ParseAddress(std::string_view text) {
  const std::string copy(text);
  Address out;
  in_addr v4{};
  if (inet_pton(AF_INET, copy.c_str(), &v4) == 1) {
    out.bits = 32;
    const auto* raw = reinterpret_cast<const unsigned char*>(&v4);
    for (int i = 0; i < 4; ++i) out.bytes[static_cast<size_t>(i)] = raw[i];
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, copy.c_str(), &v6) == 1) {
    out.bits = 128;
    for (size_t i = 0; i < 16; ++i) out.bytes[i] = v6.s6_addr[i];
    return out;
  }
  return std::nullopt;
}

bool IsLoopback(const Address& address) {
  if (address.bits == 32) return address.bytes[0] == 127;
  for (size_t i = 0; i < 15; ++i) {
    if (address.bytes[i] != 0) return false;
  }
  return address.bytes[15] == 1;
}

bool InBlock(const Address& address, const Address& network, int prefix) {
  if (address.bits != network.bits || prefix < 0 || prefix > network.bits) return false;
  for (int bit = 0; bit < prefix; ++bit) {
    const size_t byte = static_cast<size_t>(bit / 8);
    const int mask = 0x80 >> (bit % 8);
    if ((address.bytes[byte] & mask) != (network.bytes[byte] & mask)) return false;
  }
  return true;
}

// True when the NO_PROXY `entry` (trimmed, lower case, not empty) covers host:port.
bool EntryMatches(std::string_view entry, const std::string& host,
                  const std::optional<Address>& address, int port) {
  if (entry == "*") return true;
  const size_t slash = entry.find('/');
  if (slash != std::string_view::npos) {
    std::optional<Address> network = ParseAddress(entry.substr(0, slash));
    int prefix = -1;
    std::string_view bits = entry.substr(slash + 1);
    auto [end, error] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    if (!network || !address || error != std::errc() || end != bits.data() + bits.size()) {
      return false;
    }
    return InBlock(*address, *network, prefix);
  }
  std::string entry_host;
  int entry_port = 0;
  if (ParseAddress(entry)) {
    entry_host = std::string(entry);
  } else {
    SplitHostPort(entry, &entry_host, &entry_port);
  }
  if (entry_port != 0 && entry_port != port) return false;
  if (std::optional<Address> entry_address = ParseAddress(entry_host)) {
    return address && address->bits == entry_address->bits &&
           address->bytes == entry_address->bytes;
  }
  if (entry_host.rfind("*.", 0) == 0) entry_host.erase(0, 1);
  if (entry_host.empty()) return false;
  if (entry_host.front() == '.') {
    return host.size() > entry_host.size() &&
           host.compare(host.size() - entry_host.size(), entry_host.size(), entry_host) == 0;
  }
  if (host == entry_host) return true;
  const std::string suffix = "." + entry_host;
  return host.size() > suffix.size() &&
         host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ProxyEnvironment ProxyEnvironment::FromProcess() {
  ProxyEnvironment out;
  out.https_proxy = Env("HTTPS_PROXY", "https_proxy");
  out.http_proxy = Env("HTTP_PROXY", "http_proxy");
  out.no_proxy = Env("NO_PROXY", "no_proxy");
  return out;
}

bool ParseProxyUrl(std::string_view url, ProxyUrl* out) {
  *out = ProxyUrl{};
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return false;
  out->scheme = Lower(url.substr(0, scheme_end));
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  const size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    const size_t colon = userinfo.find(':');
    out->user = PercentDecode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) out->password = PercentDecode(userinfo.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  SplitHostPort(rest, &out->host, &out->port);
  out->host = Lower(out->host);
  return !out->host.empty();
}

bool NoProxyMatches(std::string_view no_proxy, std::string_view host, int port) {
  const std::string lower_host = Lower(host);
  const std::optional<Address> address = ParseAddress(lower_host);
  while (!no_proxy.empty()) {
    const size_t comma = no_proxy.find(',');
    const std::string entry = Lower(Trim(no_proxy.substr(0, comma)));
    no_proxy = comma == std::string_view::npos ? std::string_view() : no_proxy.substr(comma + 1);
    if (!entry.empty() && EntryMatches(entry, lower_host, address, port)) return true;
  }
  return false;
}

std::string ProxyFromEnvironment(std::string_view server_url, const ProxyEnvironment& environment) {
  ProxyUrl server;
  if (!ParseProxyUrl(server_url, &server)) return "";
  const bool https = server.scheme == "https";
  std::string proxy = https ? environment.https_proxy : environment.http_proxy;
  if (proxy.empty()) return "";
  if (server.port == 0) server.port = https ? 443 : 80;
  if (server.host == "localhost") return "";
  if (std::optional<Address> address = ParseAddress(server.host); address && IsLoopback(*address)) {
    return "";
  }
  if (NoProxyMatches(environment.no_proxy, server.host, server.port)) return "";
  if (proxy.find("://") == std::string::npos) proxy = "http://" + proxy;
  return proxy;
}

std::string RedactUrl(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const size_t authority = scheme_end + 3;
  const size_t authority_end = url.find_first_of("/?#", authority);
  const size_t at = url.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < authority) return std::string(url);
  const size_t colon = url.substr(0, at).find(':', authority);
  if (colon == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "xxxxx" + std::string(url.substr(at));
}

}  // namespace jobsync
