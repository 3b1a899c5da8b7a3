#include "common/secrets.h"

#include <algorithm>
#include <cctype>

namespace jobsync {

std::string ScrubSecrets(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t sep = text.find("://", pos);
    if (sep == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    size_t scheme_begin = sep;
    while (scheme_begin > pos &&
           (std::isalnum(static_cast<unsigned char>(text[scheme_begin - 1])) ||
            text[scheme_begin - 1] == '+' || text[scheme_begin - 1] == '-' ||
            text[scheme_begin - 1] == '.')) {
      --scheme_begin;
    }
    std::string scheme(text.substr(scheme_begin, sep - scheme_begin));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    size_t authority_begin = sep + 3;
    size_t authority_end = text.find_first_of("/?# \t\r\n'\"<>`", authority_begin);
    if (authority_end == std::string_view::npos) authority_end = text.size();
    std::string_view authority = text.substr(authority_begin, authority_end - authority_begin);
    out.append(text.substr(pos, authority_begin - pos));
    size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
      std::string_view userinfo = authority.substr(0, at);
      size_t colon = userinfo.find(':');
      if (colon != std::string_view::npos) {
        out.append(userinfo.substr(0, colon)).append(":***");
      } else if (scheme == "http" || scheme == "https") {
        out.append("***");  // a lone user name in an HTTP URL is usually a token
      } else {
        out.append(userinfo);
      }
      out.append(authority.substr(at));
    } else {
      out.append(authority);
    }
    pos = authority_end;
  }
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (size_t at = out.find(secret); at != std::string::npos; at = out.find(secret, at + 3)) {
      out.replace(at, secret.size(), "***");
    }
  }
  return out;
}

}  // namespace jobsync
