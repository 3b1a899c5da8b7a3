// Secret scrubbing for every message that may reach a log, a status or a person: used by logging,
// the Git source and anything else that handles credentials, so it depends on nothing but the
// standard library.
#ifndef JOBSYNC_COMMON_SECRETS_H_
#define JOBSYNC_COMMON_SECRETS_H_

#include <string>
#include <string_view>
#include <vector>

namespace jobsync {

// Returns `text` with credentials removed: passwords in URLs ("https://u:pw@h" ->
// "https://u:***@h"; a lone user in an http(s) URL is a token too) and every non-empty value of
// `secrets`.
std::string ScrubSecrets(std::string_view text, const std::vector<std::string>& secrets = {});

}  // namespace jobsync

#endif  // JOBSYNC_COMMON_SECRETS_H_
