#include "schemas/yaml_reader.h"

#include <map>
#include <sstream>
#include <string>
#include <utility>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include "common/status.h"

namespace jobsync {

const YamlMapEntry* YamlNode::Find(std::string_view key) const {
  for (const YamlMapEntry& entry : entries) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

namespace {

// Thrown inside the event handler to stop yaml-cpp's parser; caught in ReadYaml.
struct ReadStopped {
  YamlError error;
};

// Finds the first byte that makes `text` not UTF-8 text (a NUL, or an invalid sequence) and
// returns its 1-based line and column, or nullopt when the text is clean. UTF-8 as RFC 3629
// defines it: overlong forms, surrogates and code points above U+10FFFF are invalid, as they are
// for nlohmann::json, which refuses to write such strings (every manifest string is written as
// JSON: messages, the canonical spec).
std::optional<YamlError> FindBinary(std::string_view text) {
  int line = 1;
  int column = 1;
  for (size_t i = 0; i < text.size();) {
    auto byte = static_cast<unsigned char>(text[i]);
    size_t length = byte < 0x80                    ? 1
                    : byte >= 0xc2 && byte <= 0xdf ? 2
                    : byte >= 0xe0 && byte <= 0xef ? 3
                    : byte >= 0xf0 && byte <= 0xf4 ? 4
                                                   : 0;
    // The range of the second byte; narrower after the lead bytes of overlong forms (E0, F0),
    // of surrogates (ED) and of code points past U+10FFFF (F4).
    const unsigned char low = byte == 0xe0 ? 0xa0 : byte == 0xf0 ? 0x90 : 0x80;
    const unsigned char high = byte == 0xed ? 0x9f : byte == 0xf4 ? 0x8f : 0xbf;
    bool valid = length != 0 && i + length <= text.size() && byte != 0;
    for (size_t k = 1; valid && k < length; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      valid = k == 1 ? next >= low && next <= high : (next & 0xc0) == 0x80;
    }
    if (!valid) {
      return YamlError{
          line, column,
          byte == 0 ? "file contains a NUL byte: not a text file" : "file is not valid UTF-8 text",
          "manifests must be UTF-8 YAML; remove or rename binary files"};
    }
    if (byte == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += length;
  }
  return std::nullopt;
}

// Maps an explicit tag to the core type it names ("str", "int", ...), or "" for the
// non-specific tags yaml-cpp reports for plain ("?") and quoted ("!") scalars.
StatusOr<std::string> CoreTag(const std::string& tag) {
  static constexpr std::string_view kPrefix = "tag:yaml.org,2002:";
  if (tag.empty() || tag == "?" || tag == "!") return std::string();
  if (tag.rfind(kPrefix, 0) == 0) {
    std::string name = tag.substr(kPrefix.size());
    if (name == "str" || name == "int" || name == "float" || name == "bool" || name == "null" ||
        name == "map" || name == "seq") {
      return name;
    }
  }
  return InvalidArgumentError("unsupported YAML tag '" + tag + "'");
}

// Builds YamlNode trees from yaml-cpp's events, enforcing the limits as it goes.
class TreeBuilder : public YAML::EventHandler {
 public:
  explicit TreeBuilder(const YamlLimits& limits) : limits_(limits) {}

  std::vector<YamlNodePtr> TakeDocuments() { return std::move(documents_); }

  // YAML::EventHandler
  void OnDocumentStart(const YAML::Mark& /*mark*/) override { anchors_.clear(); }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto node = NewNode(YamlNode::Kind::kNull, mark);
    Complete(std::move(node), anchor, mark);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) Stop(mark, "alias to an unknown anchor");
    if (it->second == nullptr) {
      Stop(mark, "alias refers to the node that contains it (a cyclic alias)",
           "an alias may only name a node that is complete");
    }
    CountNodes(it->second->expanded_size, mark);
    Attach(it->second, mark);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    auto node = NewNode(YamlNode::Kind::kScalar, mark);
    node->scalar = value;
    node->plain = tag == "?";
    auto core = CoreTag(tag);
    if (!core.ok()) Stop(mark, core.status().message(), "use plain YAML values without tags");
    node->tag = *core;
    Complete(std::move(node), anchor, mark);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    Open(NewNode(YamlNode::Kind::kSequence, mark), anchor, mark);
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    Open(NewNode(YamlNode::Kind::kMapping, mark), anchor, mark);
  }
  void OnMapEnd() override { Close(); }

 private:
  // A container being filled, and for mappings the key waiting for its value.
  // `merge_sources` holds the mappings of a `<<` merge key, in order, until the mapping closes.
  struct Frame {
    std::shared_ptr<YamlNode> node;
    YAML::anchor_t anchor = 0;
    std::optional<YamlMapEntry> pending_key;
    bool pending_is_merge = false;
    bool has_merge = false;
    std::vector<YamlNodePtr> merge_sources;
  };

  [[noreturn]] static void Stop(const YAML::Mark& mark, std::string message,
                                std::string hint = "") {
    throw ReadStopped{{mark.line + 1, mark.column + 1, std::move(message), std::move(hint)}};
  }

  std::shared_ptr<YamlNode> NewNode(YamlNode::Kind kind, const YAML::Mark& mark) {
    CountNodes(1, mark);
    auto node = std::make_shared<YamlNode>();
    node->kind = kind;
    node->line = mark.line + 1;
    node->column = mark.column + 1;
    return node;
  }

  void CountNodes(size_t count, const YAML::Mark& mark) {
    nodes_ += count;
    if (nodes_ > limits_.max_nodes) {
      Stop(mark, "file expands to more than " + std::to_string(limits_.max_nodes) + " YAML nodes",
           "aliases that repeat large nodes (an alias bomb) or a huge file; split it or "
           "write values out");
    }
  }

  void Open(std::shared_ptr<YamlNode> node, YAML::anchor_t anchor, const YAML::Mark& mark) {
    if (static_cast<int>(stack_.size()) >= limits_.max_depth) {
      Stop(mark, "nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    // Registered as open: an alias to it before it closes is a cycle.
    if (anchor != 0) anchors_[anchor] = nullptr;
    Frame frame;
    frame.node = std::move(node);
    frame.anchor = anchor;
    stack_.push_back(std::move(frame));
  }

  void Close() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    Merge(frame);
    YAML::Mark mark;
    mark.line = frame.node->line - 1;
    mark.column = frame.node->column - 1;
    Complete(std::move(frame.node), frame.anchor, mark);
  }

  void Complete(std::shared_ptr<YamlNode> node, YAML::anchor_t anchor, const YAML::Mark& mark) {
    for (const YamlNodePtr& item : node->items) node->expanded_size += item->expanded_size;
    for (const YamlMapEntry& entry : node->entries) {
      node->expanded_size += 1 + entry.value->expanded_size;
    }
    YamlNodePtr done = std::move(node);
    if (anchor != 0) anchors_[anchor] = done;
    Attach(std::move(done), mark);
  }

  // Applies the `<<` merge key of a closing mapping as YAML 1.1's merge type says: the keys
  // written in the mapping win, then each source's keys in the order the sources are listed
  // (earlier over later). Merged entries keep the positions of the text they come from. The
  // sources' sizes were counted when they were read (or aliased), and a merged mapping is no
  // larger than its sources together, so the node bound still holds.
  static void Merge(Frame& frame) {
    for (const YamlNodePtr& source : frame.merge_sources) {
      for (const YamlMapEntry& entry : source->entries) {
        if (frame.node->Find(entry.key) == nullptr) frame.node->entries.push_back(entry);
      }
    }
  }

  // A plain `<<` key of a mapping is YAML's merge key; a quoted "<<" is an ordinary key.
  static bool IsMergeKey(const YamlNode& key) {
    return key.kind == YamlNode::Kind::kScalar && key.plain && key.tag.empty() &&
           key.scalar == "<<";
  }

  // The value of a merge key: a mapping, or a sequence of mappings (usually aliases).
  static void AddMergeSources(Frame& frame, const YamlNodePtr& value, const YAML::Mark& mark) {
    static constexpr const char* kHint =
        "write `<<: *anchor` or `<<: [*a, *b]`, where each anchor names a mapping";
    if (value->kind == YamlNode::Kind::kMapping) {
      frame.merge_sources.push_back(value);
      return;
    }
    if (value->kind != YamlNode::Kind::kSequence) {
      Stop(mark, "the merge key '<<' needs a mapping or a list of mappings", kHint);
    }
    for (const YamlNodePtr& item : value->items) {
      if (item->kind != YamlNode::Kind::kMapping) {
        YAML::Mark at;
        at.line = item->line - 1;
        at.column = item->column - 1;
        Stop(at, "the merge key '<<' lists something that is not a mapping", kHint);
      }
      frame.merge_sources.push_back(item);
    }
  }

  // Hands a finished node to its parent: an item, a mapping key, or a mapping value.
  void Attach(YamlNodePtr node, const YAML::Mark& mark) {
    if (stack_.empty()) {
      if (node->kind != YamlNode::Kind::kNull) documents_.push_back(std::move(node));
      return;
    }
    Frame& parent = stack_.back();
    if (parent.node->kind == YamlNode::Kind::kSequence) {
      parent.node->items.push_back(std::move(node));
      return;
    }
    if (!parent.pending_key) {
      if (node->kind != YamlNode::Kind::kScalar) {
        Stop(mark, "mapping keys must be plain scalars", "write the key as a simple word");
      }
      if (IsMergeKey(*node)) {
        if (parent.has_merge) {
          Stop(mark, "duplicate merge key '<<'",
               "list every mapping to merge in one key: <<: [*a, *b]");
        }
        parent.has_merge = true;
        parent.pending_is_merge = true;
        parent.pending_key = YamlMapEntry{node->scalar, node->line, node->column, nullptr};
        return;
      }
      if (const YamlMapEntry* first = parent.node->Find(node->scalar)) {
        Stop(mark,
             "duplicate key '" + node->scalar + "' (first defined at line " +
                 std::to_string(first->key_line) + ", column " + std::to_string(first->key_column) +
                 ")",
             "YAML keeps only one of them; remove or merge the duplicate");
      }
      parent.pending_key = YamlMapEntry{node->scalar, node->line, node->column, nullptr};
      return;
    }
    if (parent.pending_is_merge) {
      AddMergeSources(parent, node, mark);
      parent.pending_is_merge = false;
      parent.pending_key.reset();
      return;
    }
    parent.pending_key->value = std::move(node);
    parent.node->entries.push_back(std::move(*parent.pending_key));
    parent.pending_key.reset();
  }

  const YamlLimits& limits_;
  size_t nodes_ = 0;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, YamlNodePtr> anchors_;  // null while the anchored node is open
  std::vector<YamlNodePtr> documents_;
};

}  // namespace

YamlFile ReadYaml(std::string_view text, const YamlLimits& limits) {
  YamlFile file;
  if (text.size() > limits.max_bytes) {
    file.error = YamlError{1, 1,
                           "file is " + std::to_string(text.size()) + " bytes, over the limit of " +
                               std::to_string(limits.max_bytes),
                           "split the manifests into several files"};
    return file;
  }
  if (auto binary = FindBinary(text)) {
    file.error = std::move(binary);
    return file;
  }
  std::istringstream stream{std::string(text)};
  TreeBuilder builder(limits);
  try {
    YAML::Parser parser(stream);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const ReadStopped& stopped) {
    file.error = stopped.error;
  } catch (const YAML::DeepRecursion& e) {
    file.error = YamlError{e.mark.line + 1, e.mark.column + 1, "nesting too deep", ""};
  } catch (const YAML::Exception& e) {
    file.error = YamlError{e.mark.line + 1, e.mark.column + 1, "YAML syntax error: " + e.msg,
                           "check indentation and quoting near this position"};
  }
  file.documents = builder.TakeDocuments();
  return file;
}

}  // namespace jobsync
