// A problem found in user input, located in a file, with an optional hint on how to fix it.
#ifndef JOBSYNC_SCHEMAS_DIAGNOSTIC_H_
#define JOBSYNC_SCHEMAS_DIAGNOSTIC_H_

#include <algorithm>
#include <cstddef>
#include <string>
#include <tuple>
#include <vector>

#include "schemas/model.h"

namespace jobsync {

// A problem, or with `warning` set something that loads but is not honoured (an ElasticJob field
// jobsync ignores): a warning never makes a job invalid.
struct Diagnostic {
  SourceLocation location;
  std::string message;
  std::string hint;  // empty when there is nothing useful to add
  bool warning = false;

  // "path:line:column: message (hint: ...)", with "warning: " before the message of a warning.
  std::string ToString() const {
    std::string out = location.ToString() + ": " + (warning ? "warning: " : "") + message;
    if (!hint.empty()) out += " (hint: " + hint + ")";
    return out;
  }

  // Orders by file, line, column, then message, so reports are deterministic.
  friend bool operator<(const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.location.path, a.location.line, a.location.column, a.message) <
           std::tie(b.location.path, b.location.line, b.location.column, b.message);
  }
};

// Levenshtein distance between two names.
inline size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The hint for an unknown name: "did you mean 'x'?" for a known name within two edits, else
// `list_intro` followed by every known name ("" when there are none).
inline std::string UnknownNameHint(const std::string& name, const std::vector<std::string>& known,
                                   const std::string& list_intro) {
  std::string hint;
  size_t best = 3;
  for (const std::string& candidate : known) {
    size_t distance = EditDistance(name, candidate);
    if (distance < best) {
      best = distance;
      hint = "did you mean '" + candidate + "'?";
    }
  }
  if (hint.empty() && !known.empty()) {
    hint = list_intro;
    for (const std::string& candidate : known) hint += " " + candidate;
  }
  return hint;
}

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_DIAGNOSTIC_H_
