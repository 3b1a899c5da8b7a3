#include "schemas/model.h"

namespace jobsync {

const char* BackendName(BackendKind kind) {
  return kind == BackendKind::kRay ? "ray" : "kubernetes";
}

std::string SourceLocation::ToString() const {
  if (line <= 0) return path;
  return path + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string JobKey::ToString() const {
  return std::string(BackendName(backend)) + "/" + namespace_name + "/" + name;
}

}  // namespace jobsync
