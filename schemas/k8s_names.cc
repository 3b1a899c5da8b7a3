#include "schemas/k8s_names.h"

#include <algorithm>

#include "schemas/ascii.h"

namespace jobsync {
namespace {

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlphanumeric(char c) { return IsLower(c) || IsDigit(c) || (c >= 'A' && c <= 'Z'); }

}  // namespace

bool HasDnsLabelShape(std::string_view value, bool letter_first) {
  if (value.empty()) return false;
  if (letter_first ? !IsLower(value.front())
                   : !(IsLower(value.front()) || IsDigit(value.front()))) {
    return false;
  }
  if (!(IsLower(value.back()) || IsDigit(value.back()))) return false;
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return IsLower(c) || IsDigit(c) || c == '-'; });
}

namespace {

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] without a length limit.
bool MatchesQualifiedNamePart(std::string_view value) {
  if (value.empty() || !IsAlphanumeric(value.front()) || !IsAlphanumeric(value.back())) {
    return false;
  }
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return IsAlphanumeric(c) || c == '-' || c == '_' || c == '.'; });
}

std::string TooLong(size_t limit) {
  return "must be no more than " + std::to_string(limit) + " characters";
}

}  // namespace

std::string CheckDns1123Label(std::string_view value) {
  if (value.size() > kMaxDns1123LabelLength) return TooLong(kMaxDns1123LabelLength);
  if (!HasDnsLabelShape(value, false)) {
    return "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending "
           "with a letter or digit (e.g. 'my-name' or '123-abc')";
  }
  return "";
}

std::string CheckDns1035Label(std::string_view value) {
  if (value.size() > kMaxDns1123LabelLength) return TooLong(kMaxDns1123LabelLength);
  if (!HasDnsLabelShape(value, true)) {
    return "must be a DNS-1035 label: lower-case letters, digits and '-', starting with a letter "
           "and ending with a letter or digit (e.g. 'my-name' or 'abc-123')";
  }
  return "";
}

std::string CheckDns1123Subdomain(std::string_view value) {
  if (value.size() > kMaxDns1123SubdomainLength) return TooLong(kMaxDns1123SubdomainLength);
  size_t start = 0;
  while (true) {
    const size_t dot = value.find('.', start);
    const std::string_view part =
        value.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!HasDnsLabelShape(part, false)) {
      return "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each "
             "dot-separated part starting and ending with a letter or digit (e.g. 'example.com')";
    }
    if (dot == std::string_view::npos) return "";
    start = dot + 1;
  }
}

std::string CheckQualifiedName(std::string_view value) {
  std::string_view name = value;
  const size_t slash = value.find('/');
  if (slash != std::string_view::npos) {
    if (value.find('/', slash + 1) != std::string_view::npos) {
      return "must be a name with an optional DNS subdomain prefix and one '/' "
             "(e.g. 'example.com/my-name')";
    }
    const std::string_view prefix = value.substr(0, slash);
    if (prefix.empty()) return "has an empty prefix before '/'";
    if (std::string problem = CheckDns1123Subdomain(prefix); !problem.empty()) {
      return "prefix " + problem;
    }
    name = value.substr(slash + 1);
  }
  if (name.empty()) return "has an empty name part";
  if (name.size() > kMaxLabelValueLength) return "name part " + TooLong(kMaxLabelValueLength);
  if (!MatchesQualifiedNamePart(name)) {
    return "name part must be letters, digits, '-', '_' and '.', starting and ending with a "
           "letter or digit (e.g. 'MyName', 'my.name' or '123-abc')";
  }
  return "";
}

std::string CheckLabelValue(std::string_view value) {
  if (value.size() > kMaxLabelValueLength) return TooLong(kMaxLabelValueLength);
  if (!value.empty() && !MatchesQualifiedNamePart(value)) {
    return "must be empty or letters, digits, '-', '_' and '.', starting and ending with a "
           "letter or digit (e.g. 'MyValue', 'my_value' or '12345')";
  }
  return "";
}

std::string CheckAnnotationKey(std::string_view value) {
  std::string lower(value);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return CheckQualifiedName(lower);
}

std::string CheckEnvVarName(std::string_view value) {
  auto first = [](char c) { return (c >= 'A' && c <= 'Z') || IsLower(c) || c == '_'; };
  if (value.empty() || !first(value.front()) ||
      !std::all_of(value.begin(), value.end(), [&](char c) { return first(c) || IsDigit(c); })) {
    return "is not a valid environment variable name (letters, digits and '_', not starting "
           "with a digit)";
  }
  return "";
}

size_t AnnotationBytes(const std::map<std::string, std::string>& annotations) {
  size_t total = 0;
  for (const auto& [key, value] : annotations) total += key.size() + value.size();
  return total;
}

}  // namespace jobsync
