// The manifests of a tree, parsed once per blob: the part of the Git source that turns the tree
// of a commit (under --path) into parsed ManifestFiles. A load parses only what changed since the
// previous one: a tree-to-tree diff when the old tree is still readable, plus a cache of parsed
// files by blob id and path, trimmed to the files of the latest load beyond a size bound.
// Internal to agent/git/. Not thread-safe: owned by one source.
#ifndef JOBSYNC_AGENT_GIT_MANIFEST_TREE_H_
#define JOBSYNC_AGENT_GIT_MANIFEST_TREE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "agent/git/git_cache.h"
#include "agent/git/libgit2.h"
#include "common/status.h"
#include "schemas/loader.h"
#include "schemas/schema_validator.h"
#include "schemas/yaml_reader.h"

namespace jobsync {

// True for the path (relative to --path) of a manifest: *.yaml or *.yml, no hidden file or
// folder on the way.
bool IsManifestPath(std::string_view path);

// The parsed manifest files of the loaded tree, and the cache of parsed blobs behind them.
class ManifestTree {
 public:
  // `cache` and `validator` must outlive this. `subfolder` is --path (empty: the whole
  // repository): files are named by their path from the repository's root. At most
  // `parse_cache_entries` parsed files are kept beyond those of the latest load.
  ManifestTree(GitCache& cache, const SchemaValidator& validator, LoadOptions options,
               std::string subfolder, size_t parse_cache_entries)
      : cache_(cache),
        validator_(validator),
        options_(std::move(options)),
        subfolder_(std::move(subfolder)),
        parse_cache_entries_(parse_cache_entries) {}

  // Makes `tree` (the tree under --path of a commit in the cache) the loaded one, parsing the
  // files that changed since the previous load. A failed read fails with the cache's ReadError
  // and leaves the previous load in place. Parse errors are not failures: they are in the files.
  Status Load(const git_tree* tree);

  // The manifests of the loaded tree, checked together (CheckManifests).
  LoadResult Check() const;

  int64_t files_parsed() const { return files_parsed_; }
  int64_t parse_cache_hits() const { return parse_cache_hits_; }

 private:
  // Parsed manifest files by path, shared with the blob cache.
  using FileMap = std::map<std::string, std::shared_ptr<const ManifestFile>>;

  Status ScanTree(const git_tree* tree, FileMap& files);
  Status ApplyDiff(const git_tree* old_tree, const git_tree* new_tree, FileMap& files);
  StatusOr<std::shared_ptr<const ManifestFile>> ParseBlob(const git_oid& blob,
                                                          const std::string& relative_path);
  std::string FullPath(const std::string& relative_path) const;
  void TrimParseCache();

  GitCache& cache_;
  const SchemaValidator& validator_;
  LoadOptions options_;
  std::string subfolder_;
  size_t parse_cache_entries_;
  // The tree of the last load and its files, the base of the next diff.
  std::optional<git_oid> loaded_tree_;
  FileMap loaded_files_;
  // Parsed files by "<blob id>:<path>": the path is part of the key because messages name it.
  std::unordered_map<std::string, std::shared_ptr<const ManifestFile>> parse_cache_;
  int64_t files_parsed_ = 0;
  int64_t parse_cache_hits_ = 0;
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_GIT_MANIFEST_TREE_H_
