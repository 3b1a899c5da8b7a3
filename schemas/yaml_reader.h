// Reads untrusted YAML into a tree of positioned nodes, with hard limits. This is the only
// file in jobsync that uses yaml-cpp.
//
// yaml-cpp on its own accepts duplicate mapping keys, expands aliases without bound and has no
// size limits; this reader builds its own tree from yaml-cpp's event stream so that it can
// refuse duplicate keys, cyclic aliases, alias bombs, deep nesting and oversized input, each
// with the line and column where the problem is. YAML merge keys (`<<: *defaults`,
// `<<: [*a, *b]`) are resolved here, so later stages never see a `<<` key: the keys written in
// a mapping win, then earlier sources over later ones; merged entries keep the positions of the
// text they were copied from.
#ifndef JOBSYNC_SCHEMAS_YAML_READER_H_
#define JOBSYNC_SCHEMAS_YAML_READER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobsync {

struct YamlNode;
// Nodes are immutable once read; an alias shares the node of its anchor.
using YamlNodePtr = std::shared_ptr<const YamlNode>;

struct YamlMapEntry {
  std::string key;
  int key_line = 0;
  int key_column = 0;
  YamlNodePtr value;
};

// One node of a YAML document. Lines and columns are 1-based.
struct YamlNode {
  enum class Kind { kNull, kScalar, kSequence, kMapping };

  Kind kind = Kind::kNull;
  int line = 0;
  int column = 0;
  std::string scalar;  // kScalar: the text
  bool plain = true;   // kScalar: unquoted and untagged, so its type is resolved from text
  std::string tag;     // kScalar: explicit core tag ("str", "int", ...) or empty
  std::vector<YamlNodePtr> items;     // kSequence
  std::vector<YamlMapEntry> entries;  // kMapping: written keys in order, then merged; unique
  size_t expanded_size = 1;           // nodes in this subtree with aliases expanded

  // The value of `key` in a mapping, or null.
  const YamlMapEntry* Find(std::string_view key) const;
};

// Bounds on what one file may contain. The defaults fit any realistic manifest with room.
struct YamlLimits {
  size_t max_bytes = 1 << 20;  // per file
  int max_depth = 64;          // nesting of sequences and mappings
  size_t max_nodes = 100000;   // per file, with aliases expanded
};

// A problem that stopped the read, at a 1-based position.
struct YamlError {
  int line = 0;
  int column = 0;
  std::string message;
  std::string hint;
};

// The documents read from one file. When `error` is set, `documents` holds those that were
// complete before the problem; the file as a whole must still be treated as failed.
struct YamlFile {
  std::vector<YamlNodePtr> documents;  // empty documents (null roots) are dropped
  std::optional<YamlError> error;
};

// Reads every document of `text`. Never throws; never reads more than the limits allow.
YamlFile ReadYaml(std::string_view text, const YamlLimits& limits = {});

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_YAML_READER_H_
