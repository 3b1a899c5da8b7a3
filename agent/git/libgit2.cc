// The shared libgit2 helpers. See libgit2.h.
#include "agent/git/libgit2.h"

#include <algorithm>
#include <cctype>

namespace jobsync {

std::string OidHex(const git_oid& oid) {
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof(hex), &oid);
  return hex;
}

bool IsFullCommitId(std::string_view text) {
  return text.size() == GIT_OID_HEXSZ &&
         std::all_of(text.begin(), text.end(), [](char c) { return std::isxdigit(c) != 0; });
}

std::string LastGitMessage() {
  const git_error* error = git_error_last();
  return error != nullptr && error->message != nullptr ? error->message : "unknown libgit2 error";
}

bool IsBlobMode(uint32_t mode) {
  return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE;
}

}  // namespace jobsync
