// Kubernetes' rules for names, label keys and values and annotations, as the apiserver applies
// them (k8s.io/apimachinery's util/validation and api/validation), written as plain loops: no
// regular expression, no recursion, linear in the input, so any input is safe to check.
//
// Each Check* function returns "" when `value` is valid, else a sentence saying what is wrong
// (without the value itself, which the caller quotes). Pure and thread-safe.
#ifndef JOBSYNC_SCHEMAS_K8S_NAMES_H_
#define JOBSYNC_SCHEMAS_K8S_NAMES_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace jobsync {

inline constexpr size_t kMaxLabelValueLength = 63;
inline constexpr size_t kMaxDns1123LabelLength = 63;
inline constexpr size_t kMaxDns1123SubdomainLength = 253;
// The apiserver's limit on the sum of the lengths of an object's annotation keys and values.
inline constexpr size_t kMaxAnnotationBytes = size_t{256} * 1024;

// Lower-case letters, digits and '-', starting and ending with a letter or digit, <= 63.
std::string CheckDns1123Label(std::string_view value);
// Lower-case letters, digits and '-', starting with a letter, ending with a letter or digit,
// <= 63 (Service names).
std::string CheckDns1035Label(std::string_view value);
// DNS-1123 labels joined by '.', <= 253 in all.
std::string CheckDns1123Subdomain(std::string_view value);
// A label key: "[prefix/]name", the prefix a DNS-1123 subdomain, the name <= 63 characters of
// [-A-Za-z0-9_.] starting and ending with [A-Za-z0-9].
std::string CheckQualifiedName(std::string_view value);
// A label value: empty, or <= 63 characters of [-A-Za-z0-9_.] starting and ending with
// [A-Za-z0-9].
std::string CheckLabelValue(std::string_view value);
// An annotation key: a qualified name once lower-cased (the apiserver ignores case here).
std::string CheckAnnotationKey(std::string_view value);
// An environment variable name as the schema allows it: [A-Za-z_][A-Za-z0-9_]*.
std::string CheckEnvVarName(std::string_view value);

// True when `value` has the characters of a DNS label, whatever its length:
// [a-z0-9]([-a-z0-9]*[a-z0-9])?, or with `letter_first` [a-z]([-a-z0-9]*[a-z0-9])?.
bool HasDnsLabelShape(std::string_view value, bool letter_first);

// The size the apiserver counts for `annotations`: the sum of key and value lengths.
size_t AnnotationBytes(const std::map<std::string, std::string>& annotations);

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_K8S_NAMES_H_
