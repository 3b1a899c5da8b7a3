// Where jobsync finds the bearer token for a Ray dashboard: its own settings first, then the ones
// Ray's own clients read (Ray 2.52 and later, token authentication with RAY_AUTH_MODE=token), so
// a machine set up for `ray job submit` needs nothing more for jobsync.
//
// Precedence, first found wins:
//   1. --ray-token-file FILE
//   2. $JOBSYNC_RAY_TOKEN_FILE (a file)
//   3. $JOBSYNC_RAY_TOKEN
//   4. $RAY_AUTH_TOKEN                       (Ray's order from here on)
//   5. $RAY_AUTH_TOKEN_PATH (a file)
//   6. ~/.ray/auth_token ($HOME/.ray/auth_token), when it exists and is not empty
// A file's token is its first line, surrounding whitespace trimmed, as Ray reads it; variables
// are trimmed too; an empty variable counts as unset. The token is sent as
// "Authorization: Bearer <token>", the header Ray's own clients send.
#ifndef JOBSYNC_BACKENDS_RAY_RAY_TOKEN_H_
#define JOBSYNC_BACKENDS_RAY_RAY_TOKEN_H_

#include <functional>
#include <optional>
#include <string>

#include "common/status.h"

namespace jobsync {

// Looks up an environment variable; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Environment variables read for the token (see the precedence above).
inline constexpr const char* kRayTokenFileEnv = "JOBSYNC_RAY_TOKEN_FILE";
inline constexpr const char* kRayTokenEnv = "JOBSYNC_RAY_TOKEN";
inline constexpr const char* kRayAuthTokenEnv = "RAY_AUTH_TOKEN";
inline constexpr const char* kRayAuthTokenPathEnv = "RAY_AUTH_TOKEN_PATH";

// A token and where it came from. Holds a secret (value): never log it; `source` is safe to show.
struct RayToken {
  std::string value;   // empty: no source gave a token
  std::string source;  // e.g. "--ray-token-file /etc/ray/token", "RAY_AUTH_TOKEN"; empty if none
};

// The token for the dashboard by the precedence above; `token_file_flag` is --ray-token-file
// (empty: unset). Fails with kInvalidArgument when a file named by 1, 2 or 5 cannot be read or
// holds no token (Ray refuses an unreadable RAY_AUTH_TOKEN_PATH too), or when the token has
// control characters; messages name the setting and the file, never the token. A missing or
// empty default file (6) is no token, as for Ray.
StatusOr<RayToken> ResolveRayToken(const std::string& token_file_flag,
                                   const EnvLookup& environment);

// The settings that give jobsync a Ray token, for messages: "--ray-token-file FILE or
// RAY_AUTH_TOKEN (also read: ...)".
std::string RayTokenSettingsHint();

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_RAY_RAY_TOKEN_H_
