// Manifest loading with the parse cache. See manifest_tree.h.
#include "agent/git/manifest_tree.h"

#include <utility>
#include <vector>

namespace jobsync {

bool IsManifestPath(std::string_view path) {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
  };
  if (!ends_with(".yaml") && !ends_with(".yml")) return false;
  size_t begin = 0;
  while (begin < path.size()) {
    if (path[begin] == '.') return false;  // a hidden file or folder
    size_t slash = path.find('/', begin);
    if (slash == std::string_view::npos) break;
    begin = slash + 1;
  }
  return true;
}

Status ManifestTree::Load(const git_tree* tree) {
  // Parse only what changed since the last load: diff the trees when the old one is still
  // readable (a rebuilt cache may have lost it), else read the whole tree.
  const git_oid* tree_id = git_tree_id(tree);
  FileMap files = loaded_files_;
  git_tree* raw_old = nullptr;
  if (loaded_tree_ && git_oid_equal(&*loaded_tree_, tree_id) != 0) {
    // Same tree: same files.
  } else if (loaded_tree_ && git_tree_lookup(&raw_old, cache_.repo(), &*loaded_tree_) == 0) {
    TreePtr old_tree(raw_old);
    JOBSYNC_RETURN_IF_ERROR(ApplyDiff(old_tree.get(), tree, files));
  } else {
    JOBSYNC_RETURN_IF_ERROR(ScanTree(tree, files));
  }
  loaded_tree_ = *tree_id;
  loaded_files_ = std::move(files);
  TrimParseCache();
  return OkStatus();
}

LoadResult ManifestTree::Check() const {
  std::vector<const ManifestFile*> manifest_files;
  manifest_files.reserve(loaded_files_.size());
  for (const auto& [path, file] : loaded_files_) manifest_files.push_back(file.get());
  return CheckManifests(manifest_files);
}

std::string ManifestTree::FullPath(const std::string& relative_path) const {
  if (subfolder_.empty()) return relative_path;
  return subfolder_ + "/" + relative_path;
}

StatusOr<std::shared_ptr<const ManifestFile>> ManifestTree::ParseBlob(
    const git_oid& blob_id, const std::string& relative_path) {
  std::string path = FullPath(relative_path);
  std::string key = OidHex(blob_id) + ":" + path;
  auto cached = parse_cache_.find(key);
  if (cached != parse_cache_.end()) {
    ++parse_cache_hits_;
    return cached->second;
  }
  git_blob* raw = nullptr;
  if (git_blob_lookup(&raw, cache_.repo(), &blob_id) != 0) {
    return cache_.ReadError("cannot read " + path + " (blob " + OidHex(blob_id) + ")");
  }
  BlobPtr blob(raw);
  std::string_view text(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                        static_cast<size_t>(git_blob_rawsize(blob.get())));
  auto file =
      std::make_shared<const ManifestFile>(ParseManifestFile(path, text, validator_, options_));
  ++files_parsed_;
  parse_cache_.emplace(key, file);
  return file;
}

Status ManifestTree::ScanTree(const git_tree* tree, FileMap& files) {
  std::vector<std::pair<git_oid, std::string>> blobs;
  auto callback = [](const char* root, const git_tree_entry* entry, void* payload) -> int {
    auto* found = static_cast<std::vector<std::pair<git_oid, std::string>>*>(payload);
    std::string name = git_tree_entry_name(entry);
    if (name.empty() || name[0] == '.') return 1;  // skip hidden entries and what they hold
    if (!IsBlobMode(git_tree_entry_filemode(entry))) return 0;
    std::string path = std::string(root) + name;
    if (IsManifestPath(path)) found->emplace_back(*git_tree_entry_id(entry), path);
    return 0;
  };
  if (git_tree_walk(tree, GIT_TREEWALK_PRE, callback, &blobs) != 0) {
    return cache_.ReadError("cannot walk a tree");
  }
  files.clear();
  for (const auto& [oid, path] : blobs) {
    StatusOr<std::shared_ptr<const ManifestFile>> file = ParseBlob(oid, path);
    if (!file.ok()) return file.status();
    files[FullPath(path)] = *file;
  }
  return OkStatus();
}

Status ManifestTree::ApplyDiff(const git_tree* old_tree, const git_tree* new_tree, FileMap& files) {
  git_diff* raw = nullptr;
  git_diff_options options = GIT_DIFF_OPTIONS_INIT;
  // git_diff_tree_to_tree takes non-const trees but only reads them.
  if (git_diff_tree_to_tree(&raw, cache_.repo(), const_cast<git_tree*>(old_tree),
                            const_cast<git_tree*>(new_tree), &options) != 0) {
    return cache_.ReadError("cannot compare trees");
  }
  DiffPtr diff(raw);
  size_t count = git_diff_num_deltas(diff.get());
  for (size_t i = 0; i < count; ++i) {
    const git_diff_delta* delta = git_diff_get_delta(diff.get(), i);
    if (delta->status != GIT_DELTA_ADDED && delta->old_file.path != nullptr) {
      files.erase(FullPath(delta->old_file.path));
    }
    if (delta->status == GIT_DELTA_DELETED || delta->new_file.path == nullptr) continue;
    std::string path = delta->new_file.path;
    if (!IsBlobMode(delta->new_file.mode) || !IsManifestPath(path)) continue;
    StatusOr<std::shared_ptr<const ManifestFile>> file = ParseBlob(delta->new_file.id, path);
    if (!file.ok()) return file.status();
    files[FullPath(path)] = *file;
  }
  return OkStatus();
}

void ManifestTree::TrimParseCache() {
  if (parse_cache_.size() <= parse_cache_entries_) return;
  std::unordered_map<std::string, std::shared_ptr<const ManifestFile>> kept;
  for (const auto& [key, file] : parse_cache_) {
    auto live = loaded_files_.find(file->path);
    if (live != loaded_files_.end() && live->second == file) kept.emplace(key, file);
  }
  parse_cache_ = std::move(kept);
}

}  // namespace jobsync
