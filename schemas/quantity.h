// Kubernetes resource quantities ("500m", "16Gi", "1e3", 4), compared by value.
#ifndef JOBSYNC_SCHEMAS_QUANTITY_H_
#define JOBSYNC_SCHEMAS_QUANTITY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace jobsync {

// A non-negative quantity as written in a manifest, and its value in thousandths of the unit
// (millicores for cpu, millibytes for memory) so that "1Gi" == "1024Mi" and "1" == "1000m".
// Values below one thousandth round up, as Kubernetes does.
class Quantity {
 public:
  // Parses the Kubernetes quantity grammar: digits with an optional fraction, then an optional
  // decimal exponent (e3), decimal SI suffix (n u m k M G T P E) or binary suffix (Ki .. Ei).
  // Fails on anything else, on negative values and on values above 2^53 units.
  static StatusOr<Quantity> Parse(std::string_view text);

  const std::string& text() const { return text_; }
  int64_t milli() const { return milli_; }

  // Equal when the values are equal, whatever the spelling.
  friend bool operator==(const Quantity& a, const Quantity& b) { return a.milli_ == b.milli_; }

 private:
  Quantity(std::string text, int64_t milli) : text_(std::move(text)), milli_(milli) {}

  std::string text_;
  int64_t milli_ = 0;
};

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_QUANTITY_H_
