#include "schemas/shared_specs.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include <openssl/evp.h>

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
  Key key{};
  unsigned int length = 0;
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  const bool ok = context != nullptr && EVP_DigestInit_ex(context, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(context, canonical_text.data(), canonical_text.size()) == 1 &&
                  EVP_DigestUpdate(context, "", 1) == 1 &&
                  EVP_DigestUpdate(context, source_path.data(), source_path.size()) == 1 &&
                  EVP_DigestFinal_ex(context, key.data(), &length) == 1 && length == key.size();
  EVP_MD_CTX_free(context);
  if (!ok) std::abort();  // as CanonicalTextHash: SHA-256 does not fail but for lack of memory
  return key;
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
