// LoadManifestPaths: the loader over files and directory trees on disk (loader.h).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "schemas/loader.h"

namespace jobsync {

namespace fs = std::filesystem;

LoadResult LoadManifestPaths(const std::vector<std::string>& paths,
                             const SchemaValidator& validator, const LoadOptions& options) {
  std::vector<ManifestFile> files;
  std::vector<Diagnostic> access_errors;
  auto is_manifest = [](const fs::path& p) {
    return p.extension() == ".yaml" || p.extension() == ".yml";
  };
  auto load_file = [&](const fs::path& p) {
    std::error_code ec;
    auto size = fs::file_size(p, ec);
    if (!ec && size > options.limits.max_bytes) {
      ManifestFile file;
      file.path = p.string();
      file.unreadable = true;
      file.diagnostics.push_back({{p.string(), 1, 1},
                                  "file is " + std::to_string(size) + " bytes, over the limit of " +
                                      std::to_string(options.limits.max_bytes),
                                  "split the manifests into several files"});
      files.push_back(std::move(file));
      return;
    }
    std::ifstream in(p, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.is_open() || in.bad()) {
      ManifestFile file;
      file.path = p.string();
      file.unreadable = true;
      file.diagnostics.push_back({{p.string(), 0, 0}, "cannot read file", "check its permissions"});
      files.push_back(std::move(file));
      return;
    }
    files.push_back(ParseManifestFile(p.string(), text.str(), validator, options));
  };
  for (const std::string& arg : paths) {
    std::error_code ec;
    fs::file_status status = fs::status(arg, ec);
    if (ec || !fs::exists(status)) {
      access_errors.push_back({{arg, 0, 0}, "no such file or directory", ""});
      continue;
    }
    if (fs::is_regular_file(status)) {
      load_file(arg);
      continue;
    }
    std::vector<fs::path> found;
    fs::recursive_directory_iterator it(arg, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const fs::path& p = it->path();
      if (p.filename().string().rfind('.', 0) == 0) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && is_manifest(p)) found.push_back(p);
    }
    if (ec) access_errors.push_back({{arg, 0, 0}, "cannot list directory: " + ec.message(), ""});
    std::sort(found.begin(), found.end());
    for (const fs::path& p : found) load_file(p);
  }
  LoadResult result = CheckManifests(files);
  for (Diagnostic& d : access_errors) result.diagnostics.push_back(std::move(d));
  std::sort(result.diagnostics.begin(), result.diagnostics.end());
  return result;
}

}  // namespace jobsync
