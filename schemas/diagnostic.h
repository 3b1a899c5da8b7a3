// A problem found in user input, located in a file, with an optional hint on how to fix it.
#ifndef JOBSYNC_SCHEMAS_DIAGNOSTIC_H_
#define JOBSYNC_SCHEMAS_DIAGNOSTIC_H_

#include <string>
#include <tuple>

#include "schemas/model.h"

namespace jobsync {

struct Diagnostic {
  SourceLocation location;
  std::string message;
  std::string hint;  // empty when there is nothing useful to add

  // "path:line:column: message (hint: ...)".
  std::string ToString() const {
    std::string out = location.ToString() + ": " + message;
    if (!hint.empty()) out += " (hint: " + hint + ")";
    return out;
  }

  // Orders by file, line, column, then message, so reports are deterministic.
  friend bool operator<(const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.location.path, a.location.line, a.location.column, a.message) <
           std::tie(b.location.path, b.location.line, b.location.column, b.message);
  }
};

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_DIAGNOSTIC_H_
