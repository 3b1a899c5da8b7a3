#include "backends/ray/ray_token.h"

#include <fstream>
#include <utility>

namespace jobsync {
namespace {

// Ray's TrimWhitespace set.
constexpr const char* kSpace = " \t\n\r\f\v";

std::string Trim(const std::string& text) {
  std::size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string::npos) return "";
  std::size_t end = text.find_last_not_of(kSpace);
  return text.substr(begin, end - begin + 1);
}

// The trimmed first line of `path`; std::nullopt when it cannot be opened.
std::optional<std::string> FirstLine(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  if (in.bad()) return std::nullopt;
  return Trim(line);
}

// The token in file `path`, named by `setting`: an unreadable or empty file is an error.
StatusOr<RayToken> FromFile(const std::string& setting, const std::string& path) {
  std::optional<std::string> token = FirstLine(path);
  if (!token) {
    return InvalidArgumentError("cannot read the Ray token file " + path + " (from " + setting +
                                "): make it readable or point " + setting + " at the token file");
  }
  if (token->empty()) {
    return InvalidArgumentError("the Ray token file " + path + " (from " + setting +
                                ") has no token on its first line");
  }
  return RayToken{std::move(*token), setting + " (" + path + ")"};
}

// Refuses a token that could not travel in an HTTP header.
StatusOr<RayToken> Checked(StatusOr<RayToken> token) {
  if (!token.ok()) return token;
  for (char c : token->value) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return InvalidArgumentError("the Ray token from " + token->source +
                                  " has control characters; a token is one line of text");
    }
  }
  return token;
}

}  // namespace

StatusOr<RayToken> ResolveRayToken(const std::string& token_file_flag,
                                   const EnvLookup& environment) {
  auto variable = [&](const char* name) { return Trim(environment(name).value_or("")); };
  if (!token_file_flag.empty()) return Checked(FromFile("--ray-token-file", token_file_flag));
  if (std::string path = variable(kRayTokenFileEnv); !path.empty()) {
    return Checked(FromFile(kRayTokenFileEnv, path));
  }
  if (std::string token = variable(kRayTokenEnv); !token.empty()) {
    return Checked(RayToken{std::move(token), kRayTokenEnv});
  }
  if (std::string token = variable(kRayAuthTokenEnv); !token.empty()) {
    return Checked(RayToken{std::move(token), kRayAuthTokenEnv});
  }
  if (std::string path = variable(kRayAuthTokenPathEnv); !path.empty()) {
    return Checked(FromFile(kRayAuthTokenPathEnv, path));
  }
  if (std::string home = environment("HOME").value_or(""); !home.empty()) {
    const std::string path = home + "/.ray/auth_token";
    std::optional<std::string> token = FirstLine(path);
    if (token && !token->empty()) {
      return Checked(RayToken{std::move(*token), "~/.ray/auth_token (" + path + ")"});
    }
  }
  return RayToken{};
}

std::string RayTokenSettingsHint() {
  return std::string("--ray-token-file FILE or ") + kRayAuthTokenEnv +
         " (jobsync reads, in order: --ray-token-file, " + kRayTokenFileEnv + ", " + kRayTokenEnv +
         ", " + kRayAuthTokenEnv + ", " + kRayAuthTokenPathEnv + ", ~/.ray/auth_token)";
}

}  // namespace jobsync
