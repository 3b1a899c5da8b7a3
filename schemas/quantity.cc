#include "schemas/quantity.h"

#include <cctype>
#include <cmath>

namespace jobsync {
namespace {

// Multiplier of a suffix, as a power of ten or of two, or 0 when the suffix is unknown.
long double SuffixMultiplier(std::string_view suffix) {
  if (suffix.empty()) return 1.0L;
  if (suffix == "n") return 1e-9L;
  if (suffix == "u") return 1e-6L;
  if (suffix == "m") return 1e-3L;
  if (suffix == "k") return 1e3L;
  if (suffix == "M") return 1e6L;
  if (suffix == "G") return 1e9L;
  if (suffix == "T") return 1e12L;
  if (suffix == "P") return 1e15L;
  if (suffix == "E") return 1e18L;
  if (suffix == "Ki") return 1024.0L;
  if (suffix == "Mi") return 1024.0L * 1024;
  if (suffix == "Gi") return 1024.0L * 1024 * 1024;
  if (suffix == "Ti") return 1024.0L * 1024 * 1024 * 1024;
  if (suffix == "Pi") return 1024.0L * 1024 * 1024 * 1024 * 1024;
  if (suffix == "Ei") return 1024.0L * 1024 * 1024 * 1024 * 1024 * 1024;
  if ((suffix[0] == 'e' || suffix[0] == 'E') && suffix.size() > 1) {
    size_t i = 1;
    bool negative = false;
    if (suffix[i] == '+' || suffix[i] == '-') negative = suffix[i++] == '-';
    if (i == suffix.size() || suffix.size() - i > 3) return 0;
    int exponent = 0;
    for (; i < suffix.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(suffix[i]))) return 0;
      exponent = exponent * 10 + (suffix[i] - '0');
    }
    return std::pow(10.0L, negative ? -exponent : exponent);
  }
  return 0;
}

}  // namespace

StatusOr<Quantity> Quantity::Parse(std::string_view text) {
  auto invalid = [&] {
    return InvalidArgumentError("'" + std::string(text) +
                                "' is not a quantity (examples: 4, \"500m\", \"16Gi\")");
  };
  size_t i = 0;
  if (i < text.size() && text[i] == '+') ++i;
  size_t digits_start = i;
  long double value = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    value = value * 10 + (text[i] - '0');
  }
  size_t integer_digits = i - digits_start;
  size_t fraction_digits = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    long double scale = 0.1L;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      value += (text[i] - '0') * scale;
      scale /= 10;
      ++fraction_digits;
    }
  }
  if (integer_digits + fraction_digits == 0 || integer_digits > 19) return invalid();
  long double multiplier = SuffixMultiplier(text.substr(i));
  if (multiplier == 0) return invalid();
  long double units = value * multiplier;
  if (units > 9007199254740992.0L) {
    return InvalidArgumentError("quantity '" + std::string(text) + "' is too large");
  }
  return Quantity(std::string(text), static_cast<int64_t>(std::ceil(units * 1000.0L - 1e-6L)));
}

}  // namespace jobsync
