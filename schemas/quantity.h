// Kubernetes resource quantities ("500m", "16Gi", "1e3", 4), parsed and compared exactly as
// Kubernetes does (k8s.io/apimachinery's resource.ParseQuantity and Quantity.Cmp).
#ifndef JOBSYNC_SCHEMAS_QUANTITY_H_
#define JOBSYNC_SCHEMAS_QUANTITY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace jobsync {

// A non-negative quantity as written in a manifest, and its exact value.
//
// The value is kept with arbitrary precision as Kubernetes keeps it: what was written, rounded
// UP to a whole nano-unit (so "1500u" is 0.0015 and differs from "2m", "1n" differs from "0"),
// and, for binary suffixes only (Ki .. Ei), capped at 2^63-1 units. Two quantities are equal
// exactly when Kubernetes' Cmp says so, whatever the spelling: "1Gi" == "1024Mi",
// "1" == "1000m" == "1e0000" == "0.001k".
//
// The grammar is Kubernetes': an optional sign, digits with an optional fraction ("1.", ".5"),
// then nothing, a decimal SI suffix (n u m k M G T P E), a binary suffix (Ki Mi Gi Ti Pi Ei) or a
// decimal exponent (e3, E-2, e+0003; Kubernetes reads the exponent as a 64-bit number and keeps
// its low 32 bits, and so does this class). Surrounding ASCII whitespace is ignored, as the
// apiserver trims it. On top of what the apiserver refuses, Parse refuses what is surely a
// mistake although Kubernetes reads it as 0: text with no digit at all ("Gi", ".", "+") and a
// negative zero ("-0", "-0.0Gi"); and negative values, which no resource accepts.
//
// Values are immutable; all functions are thread-safe.
class Quantity {
 public:
  // Parses `text` as described above. Fails with kInvalidArgument and a message that names the
  // text, says what is wrong and gives examples.
  static StatusOr<Quantity> Parse(std::string_view text);

  // The text as written (whitespace included): what jobsync sends to Kubernetes, which reads it
  // as this class does.
  const std::string& text() const { return text_; }

  // The value in thousandths of the unit, rounded up, saturating at INT64_MAX: Ray's resources,
  // which have no finer unit.
  int64_t milli() const;

  // The value in thousandths of the unit when that is a whole number that fits in 63 bits.
  bool ExactMilli(int64_t* milli) const;

  // The one spelling of the value that Parse reads back as an equal quantity: "0", "<n>n" (nano
  // units) when that fits in 18 digits, else "<digits>e<exponent>".
  std::string ExactText() const;

  // Equal when Kubernetes' Cmp says the values are equal, whatever the spelling.
  friend bool operator==(const Quantity& a, const Quantity& b) {
    return a.exponent_ == b.exponent_ && a.digits_ == b.digits_;
  }

 private:
  Quantity(std::string text, std::string digits, int64_t exponent)
      : text_(std::move(text)), digits_(std::move(digits)), exponent_(exponent) {}

  std::string text_;
  // The value is digits_ * 10^exponent_; digits_ has no leading or trailing zero and is empty
  // for zero (whose exponent_ is 0), so that equal values have equal fields.
  std::string digits_;
  int64_t exponent_ = 0;
};

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_QUANTITY_H_
