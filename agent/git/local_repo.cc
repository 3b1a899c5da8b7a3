// Revisions of a local repository, resolved in place. See local_repo.h.
#include "agent/git/local_repo.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "agent/git/libgit2.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;

bool IsHexId(std::string_view text) {
  return text.size() >= 4 && text.size() <= 40 &&
         text.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

// How many commits behind its base a revision reaches: 3 for HEAD~3, 1 for HEAD^ and HEAD^2,
// 0 for a plain name. Only the trailing ~N / ^N steps count; that is enough for a hint.
int64_t AncestorDepth(std::string_view spec, std::string_view* base) {
  constexpr int64_t kMany = int64_t{1} << 40;  // beyond any history; keeps the sum from overflowing
  int64_t depth = 0;
  size_t end = spec.size();
  while (end > 0) {
    size_t digits = end;
    while (digits > 0 && std::isdigit(static_cast<unsigned char>(spec[digits - 1])) != 0) --digits;
    if (digits == 0 || (spec[digits - 1] != '~' && spec[digits - 1] != '^')) break;
    const bool tilde = spec[digits - 1] == '~';
    int64_t n = 1;
    if (digits != end) {
      const char* first = spec.data() + digits;
      const char* last = spec.data() + end;
      if (std::from_chars(first, last, n).ec != std::errc() || n > kMany) n = kMany;
    }
    depth = std::min(kMany, depth + (tilde ? n : 1));  // ^N: one generation back whatever N is
    end = digits - 1;
  }
  *base = spec.substr(0, end);
  return depth;
}

// The `git fetch` that brings `spec` into a clone whose remote is origin.
std::string FetchHint(const std::string& spec, bool shallow) {
  std::string_view base;
  const int64_t depth = AncestorDepth(spec, &base);
  if (depth > 0) {
    return shallow ? "git fetch --deepen=" + std::to_string(depth)
                   : "git fetch origin (the commits before " + std::string(base) + ")";
  }
  const std::string depth_flag = shallow ? "--depth=1 " : "";
  std::string name(base);
  if (name.rfind("refs/remotes/origin/", 0) == 0) name.erase(0, 20);
  if (name.rfind("origin/", 0) == 0) name.erase(0, 7);
  if (name.rfind("refs/", 0) == 0 && name.rfind("refs/heads/", 0) != 0 &&
      name.rfind("refs/tags/", 0) != 0) {
    return "git fetch " + depth_flag + "origin +" + name + ":" + name;
  }
  if (IsHexId(name) && name.size() < 40) {
    return "git fetch " + depth_flag + "origin <the full commit id>";
  }
  return "git fetch " + depth_flag + "origin " + name;
}

}  // namespace

Status OpenLocalRepository(const std::string& path, git_repository** out) {
  *out = nullptr;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return NotFoundError("--repo " + path +
                         " does not exist: pass the folder of a Git clone, or a URL "
                         "(https://, ssh://, git://, file://) to fetch from");
  }
  if (git_repository_open_ext(out, path.c_str(), 0, nullptr) != 0) {
    std::string why = LastGitMessage();
    *out = nullptr;
    return InvalidArgumentError("--repo " + path + " is not a Git repository (" + why +
                                "): pass the folder of a clone (git clone URL) or a URL");
  }
  return OkStatus();
}

bool IsShallowRepository(git_repository* repo) { return git_repository_is_shallow(repo) == 1; }

StatusOr<std::string> ResolveLocalRevision(git_repository* repo, const std::string& kind,
                                           const std::string& name, const std::string& display) {
  std::string spec = "HEAD";
  if (kind == "branch") spec = "refs/heads/" + name;
  if (kind == "tag") spec = "refs/tags/" + name;
  if (kind == "rev") spec = name;
  const std::string what = kind == "default" ? "HEAD"
                           : kind == "rev"   ? "revision " + name
                                             : kind + " " + name;

  git_object* raw = nullptr;
  int rc = git_revparse_single(&raw, repo, spec.c_str());
  ObjectPtr object(raw);
  if (rc == GIT_EAMBIGUOUS) {
    return InvalidArgumentError(what + " is ambiguous in " + display + " (" + LastGitMessage() +
                                "): give more digits of the commit id");
  }
  if (rc != 0) {
    const bool shallow = IsShallowRepository(repo);
    std::string message = what + " is not in " + display;
    if (kind == "default") {
      message += ": HEAD points at no commit (an empty repository?); commit or check out one";
    } else if (shallow) {
      message += ", a shallow clone that lacks it (" + LastGitMessage() + "); fetch it with `" +
                 FetchHint(spec, true) + "` and run again";
    } else {
      message += " (" + LastGitMessage() + "): check the name (git rev-parse " + spec +
                 "), or fetch it with `" + FetchHint(spec, false) + "`";
    }
    if (kind == "branch") message += "; a remote-tracking branch is --rev origin/" + name;
    return NotFoundError(message);
  }
  git_object* raw_commit = nullptr;
  rc = git_object_peel(&raw_commit, object.get(), GIT_OBJECT_COMMIT);
  ObjectPtr commit(raw_commit);
  if (rc != 0) {
    return InvalidArgumentError(what + " of " + display + " is not a commit (" + LastGitMessage() +
                                ")");
  }
  return OidHex(*git_object_id(commit.get()));
}

}  // namespace jobsync
