#include "schemas/quantity.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <utility>

#include "schemas/ascii.h"

namespace jobsync {
namespace {

constexpr std::string_view kExamples = "examples: 4, \"500m\", \"16Gi\", \"1.5e3\"";
// 2^63-1: Kubernetes caps binary-suffixed quantities here.
constexpr std::string_view kMaxBinary = "9223372036854775807";

// Multiplies the decimal digit string `digits` (most significant first) by `factor` (< 2^32).
void MultiplyDigits(std::string* digits, uint64_t factor) {
  uint64_t carry = 0;
  for (auto it = digits->rbegin(); it != digits->rend(); ++it) {
    uint64_t product = static_cast<uint64_t>(*it - '0') * factor + carry;
    *it = static_cast<char>('0' + product % 10);
    carry = product / 10;
  }
  std::string head;
  for (; carry != 0; carry /= 10) head.push_back(static_cast<char>('0' + carry % 10));
  std::reverse(head.begin(), head.end());
  digits->insert(0, head);
}

// Adds one to the decimal digit string `digits`.
void IncrementDigits(std::string* digits) {
  for (auto it = digits->rbegin(); it != digits->rend(); ++it) {
    if (*it != '9') {
      ++*it;
      return;
    }
    *it = '0';
  }
  digits->insert(digits->begin(), '1');
}

// Strips leading zeros from `digits` and moves trailing zeros into `exponent`.
void Normalize(std::string* digits, int64_t* exponent) {
  size_t first = digits->find_first_not_of('0');
  if (first == std::string::npos) {
    digits->clear();
    *exponent = 0;
    return;
  }
  digits->erase(0, first);
  size_t last = digits->find_last_not_of('0');
  *exponent += static_cast<int64_t>(digits->size() - 1 - last);
  digits->erase(last + 1);
}

// Compares digits_a * 10^exp_a with digits_b * 10^exp_b, both normalized and non-zero.
int CompareValues(const std::string& a, int64_t exp_a, const std::string& b, int64_t exp_b) {
  // The position of the leading digit decides first.
  const int64_t top_a = static_cast<int64_t>(a.size()) + exp_a;
  const int64_t top_b = static_cast<int64_t>(b.size()) + exp_b;
  if (top_a != top_b) return top_a < top_b ? -1 : 1;
  const int c = a.compare(b);  // same leading position: digit strings compare lexicographically
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

// Go's strconv.ParseInt(text, 10, 64): an optional sign and at least one digit, no overflow.
bool ParseGoInt64(std::string_view text, int64_t* out) {
  bool negative = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return false;
  uint64_t magnitude = 0;
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  for (char c : text) {
    if (!IsDigit(c)) return false;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (limit - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  *out = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

// What a suffix means: value * 10^decimal_exponent * 2^binary_exponent.
struct Suffix {
  int64_t decimal_exponent = 0;
  int binary_exponent = 0;
};

// Kubernetes' suffix table, then its exponent form ("e" or "E" and a number whose low 32 bits
// Kubernetes keeps). False for anything else.
bool InterpretSuffix(std::string_view suffix, Suffix* out) {
  static constexpr std::pair<std::string_view, int> kDecimal[] = {
      {"", 0},  {"n", -9}, {"u", -6}, {"m", -3}, {"k", 3},
      {"M", 6}, {"G", 9},  {"T", 12}, {"P", 15}, {"E", 18}};
  static constexpr std::pair<std::string_view, int> kBinary[] = {
      {"Ki", 10}, {"Mi", 20}, {"Gi", 30}, {"Ti", 40}, {"Pi", 50}, {"Ei", 60}};
  for (const auto& [name, exponent] : kDecimal) {
    if (suffix == name) {
      *out = {exponent, 0};
      return true;
    }
  }
  for (const auto& [name, exponent] : kBinary) {
    if (suffix == name) {
      *out = {0, exponent};
      return true;
    }
  }
  if (suffix.size() > 1 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    int64_t exponent = 0;
    if (!ParseGoInt64(suffix.substr(1), &exponent)) return false;
    *out = {static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(exponent))), 0};
    return true;
  }
  return false;
}

// True when `suffix` has the shape Kubernetes' scanner takes: letters from "eEinumkKMGTP", then
// an optional sign, then digits.
bool SuffixShapeValid(std::string_view suffix) {
  size_t i = 0;
  while (i < suffix.size() &&
         std::string_view("eEinumkKMGTP").find(suffix[i]) != std::string_view::npos) {
    ++i;
  }
  if (i < suffix.size() && (suffix[i] == '+' || suffix[i] == '-')) ++i;
  return std::all_of(suffix.begin() + static_cast<std::ptrdiff_t>(i), suffix.end(), IsDigit);
}

}  // namespace

StatusOr<Quantity> Quantity::Parse(std::string_view text) {
  auto refuse = [&](std::string_view why) {
    return InvalidArgumentError("'" + std::string(text) + "' is not a quantity: " +
                                std::string(why) + " (" + std::string(kExamples) + ")");
  };
  std::string_view s = text;
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  while (!s.empty() && kSpace.find(s.front()) != std::string_view::npos) s.remove_prefix(1);
  while (!s.empty() && kSpace.find(s.back()) != std::string_view::npos) s.remove_suffix(1);

  size_t pos = 0;
  bool negative = false;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) negative = s[pos++] == '-';
  const size_t integer_start = pos;
  while (pos < s.size() && IsDigit(s[pos])) ++pos;
  std::string_view integer = s.substr(integer_start, pos - integer_start);
  std::string_view fraction;
  if (pos < s.size() && s[pos] == '.') {
    const size_t fraction_start = ++pos;
    while (pos < s.size() && IsDigit(s[pos])) ++pos;
    fraction = s.substr(fraction_start, pos - fraction_start);
  }
  const std::string_view suffix_text = s.substr(pos);
  Suffix suffix;
  if (!SuffixShapeValid(suffix_text) || !InterpretSuffix(suffix_text, &suffix)) {
    if (s.empty()) return refuse("it is empty");
    return refuse("'" + std::string(suffix_text) +
                  "' is not a suffix (n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or an exponent "
                  "such as e3; suffixes are case-sensitive)");
  }
  if (integer.empty() && fraction.empty()) {
    return refuse("it has no digits (Kubernetes would read it as 0, surely not what was meant)");
  }

  std::string digits;
  digits.reserve(integer.size() + fraction.size());
  digits.append(integer).append(fraction);
  int64_t exponent = suffix.decimal_exponent - static_cast<int64_t>(fraction.size());
  Normalize(&digits, &exponent);
  if (negative) {
    return refuse(digits.empty() ? "a negative zero is surely a mistake; write 0"
                                 : "resources cannot be negative");
  }
  if (digits.empty()) return Quantity(std::string(text), "", 0);

  for (int shift = suffix.binary_exponent; shift > 0; shift -= 10) MultiplyDigits(&digits, 1024);
  Normalize(&digits, &exponent);
  // Round up to a whole nano-unit: any non-zero digit below it adds one nano.
  if (exponent < -9) {
    const int64_t drop = -9 - exponent;
    if (drop >= static_cast<int64_t>(digits.size())) {
      digits = "1";
    } else {
      digits.erase(digits.size() - static_cast<size_t>(drop));
      IncrementDigits(&digits);  // the dropped part ends in a non-zero digit (normalized)
    }
    exponent = -9;
    Normalize(&digits, &exponent);
  }
  // ExactText spells the value with this exponent, and Parse keeps an exponent's low 32 bits:
  // beyond them the spelling would not read back (10e2147483647 is 1e2147483648).
  if (exponent > std::numeric_limits<int32_t>::max()) {
    return refuse("its exponent is beyond 2147483647, surely a mistake for a resource amount");
  }
  if (suffix.binary_exponent > 0 &&
      CompareValues(digits, exponent, std::string(kMaxBinary), 0) > 0) {
    digits = kMaxBinary;
    exponent = 0;
  }
  return Quantity(std::string(text), std::move(digits), exponent);
}

bool Quantity::ExactMilli(int64_t* milli) const {
  if (digits_.empty()) {
    *milli = 0;
    return true;
  }
  if (exponent_ < -3 || static_cast<int64_t>(digits_.size()) + exponent_ + 3 > 19) return false;
  int64_t value = 0;
  for (char c : digits_) {
    if (__builtin_mul_overflow(value, 10, &value) ||
        __builtin_add_overflow(value, c - '0', &value)) {
      return false;
    }
  }
  for (int64_t i = 0; i < exponent_ + 3; ++i) {
    if (__builtin_mul_overflow(value, 10, &value)) return false;
  }
  *milli = value;
  return true;
}

int64_t Quantity::milli() const {
  int64_t exact = 0;
  if (ExactMilli(&exact)) return exact;
  if (exponent_ >= -3) return std::numeric_limits<int64_t>::max();
  // Finer than a thousandth: drop the digits below it and round up.
  const int64_t drop = -3 - exponent_;
  if (drop >= static_cast<int64_t>(digits_.size())) return 1;
  std::string kept = digits_.substr(0, digits_.size() - static_cast<size_t>(drop));
  if (kept.size() > 18) return std::numeric_limits<int64_t>::max();
  int64_t value = 0;
  for (char c : kept) value = value * 10 + (c - '0');
  return value + 1;
}

std::string Quantity::ExactText() const {
  if (digits_.empty()) return "0";
  if (exponent_ >= -9 && static_cast<int64_t>(digits_.size()) + exponent_ + 9 <= 18) {
    return digits_ + std::string(static_cast<size_t>(exponent_ + 9), '0') + "n";
  }
  return digits_ + "e" + std::to_string(exponent_);
}

}  // namespace jobsync
