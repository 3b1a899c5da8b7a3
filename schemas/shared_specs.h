// The desired specs the agent holds, found by their canonical text, so that an applied spec read
// back from a cluster that is one of them (the usual case: the cluster runs what Git says) is
// that same object instead of a parsed copy. At 10,000 jobs a parsed spec is ~3.3 KB per job
// (bench/memory_breakdown), as much again as the desired specs themselves.
//
// The agent offers each snapshot's jobs after loading it (Reconciler); a backend reading an
// applied spec asks Find first and parses only when it finds nothing. A found job is equal to
// what parsing would give in everything CanonicalSpecText holds and in its source path; its line
// and column are the manifest's, where a parsed one has none.
//
// Holds weak references only: a job no snapshot or listing holds any more is let go. Thread-safe.
#ifndef JOBSYNC_SCHEMAS_SHARED_SPECS_H_
#define JOBSYNC_SCHEMAS_SHARED_SPECS_H_

#include <array>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "schemas/model.h"

namespace jobsync {

class SharedSpecs {
 public:
  // Makes `jobs` findable. Hashes each job object once over its life (CanonicalSpecText and
  // SHA-256: ~0.1 s for 10,000 new jobs), so offering every snapshot costs little.
  void Offer(const std::vector<std::shared_ptr<const TrainingJob>>& jobs);

  // The offered job, still held elsewhere, whose CanonicalSpecText is `canonical_text` and whose
  // source path is `source_path`; null when there is none.
  std::shared_ptr<const TrainingJob> Find(std::string_view canonical_text,
                                          const std::string& source_path) const;

  // Offered jobs still held elsewhere (for tests and benchmarks).
  size_t size() const;

 private:
  // SHA-256 of the canonical text and the source path: 32 bytes in the map's node, where a text
  // key ("<hash in hex>\n<path>") took another ~110 bytes of heap per job.
  using Key = std::array<unsigned char, 32>;
  struct KeyHash {
    size_t operator()(const Key& key) const;
  };
  static Key KeyOf(std::string_view canonical_text, std::string_view source_path);

  mutable std::mutex mutex_;
  std::unordered_map<Key, std::weak_ptr<const TrainingJob>, KeyHash> by_text_;
  // Jobs already hashed, by address (with a weak reference, so that a new job at a freed
  // address is not taken for the old one).
  std::unordered_map<const TrainingJob*, std::weak_ptr<const TrainingJob>> hashed_;
};

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_SHARED_SPECS_H_
