#include "schemas/shared_specs.h"

#include <cstring>
#include <string>

#include "schemas/canonical.h"

namespace jobsync {
namespace {

// Drops the entries whose job is gone, once they are as many as the live ones.
template <typename Map>
void DropExpired(Map& map, size_t live) {
  if (map.size() <= 2 * live + 64) return;
  std::erase_if(map, [](const auto& entry) { return entry.second.expired(); });
}

}  // namespace

size_t SharedSpecs::KeyHash::operator()(const Key& key) const {
  size_t hash = 0;  // the digest's first bytes are as good a hash as any
  std::memcpy(&hash, key.data(), sizeof(hash));
  return hash;
}

// The text and the path apart by a NUL, which neither holds (canonical JSON escapes it).
SharedSpecs::Key SharedSpecs::KeyOf(std::string_view canonical_text, std::string_view source_path) {
  return Sha256({canonical_text, std::string_view("\0", 1), source_path});
}

void SharedSpecs::Offer(const std::vector<std::shared_ptr<const TrainingJob>>& jobs) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const std::shared_ptr<const TrainingJob>& job : jobs) {
    if (!job) continue;
    auto known = hashed_.find(job.get());
    if (known != hashed_.end() && known->second.lock() == job) continue;
    hashed_.insert_or_assign(job.get(), job);
    by_text_.insert_or_assign(KeyOf(CanonicalSpecText(*job), job->source.path), job);
  }
  DropExpired(hashed_, jobs.size());
  DropExpired(by_text_, jobs.size());
}

std::shared_ptr<const TrainingJob> SharedSpecs::Find(std::string_view canonical_text,
                                                     const std::string& source_path) const {
  const Key key = KeyOf(canonical_text, source_path);
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = by_text_.find(key);
  return found == by_text_.end() ? nullptr : found->second.lock();
}

size_t SharedSpecs::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t live = 0;
  for (const auto& [key, job] : by_text_) live += job.expired() ? 0 : 1;
  return live;
}

}  // namespace jobsync
