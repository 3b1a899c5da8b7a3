#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace jobsync {
namespace {

// Misuse of the registry is a bug in the caller, not a runtime condition: fail loudly at once.
[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "jobsync metrics: %s\n", message.c_str());
  std::abort();
}

bool IsMetricNameChar(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool IsLabelNameChar(char c, bool first) { return c != ':' && IsMetricNameChar(c, first); }

bool IsValidName(const std::string& name, bool (*is_char)(char, bool)) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!is_char(name[i], i == 0)) return false;
  }
  return true;
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Checks the label names and returns the labels sorted by name, the form series are keyed by.
MetricLabels SortedLabels(const std::string& metric, MetricType type, MetricLabels labels) {
  std::sort(labels.begin(), labels.end());
  for (size_t i = 0; i < labels.size(); ++i) {
    const std::string& label = labels[i].first;
    if (!IsValidName(label, IsLabelNameChar) || label.starts_with("__")) {
      Die("metric " + metric + ": invalid label name \"" + label +
          "\" (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __)");
    }
    if (type == MetricType::kHistogram && label == "le") {
      Die("metric " + metric + ": label name \"le\" is reserved for histogram buckets");
    }
    if (i > 0 && labels[i - 1].first == label) {
      Die("metric " + metric + ": label \"" + label + "\" given twice");
    }
  }
  return labels;
}

// Prometheus clients write integral values without a fraction and everything else in the
// shortest form that reads back exactly.
std::string FormatNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {  // 2^53
    return std::to_string(static_cast<long long>(value));
  }
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

void AppendEscaped(std::string* out, const std::string& text, bool escape_quote) {
  for (char c : text) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c == '"' && escape_quote) {
      *out += "\\\"";
    } else {
      *out += c;
    }
  }
}

// `{a="x",b="y"}` with an optional trailing le label; nothing for no labels.
void AppendLabels(std::string* out, const MetricLabels& labels, const std::string* le = nullptr) {
  if (labels.empty() && le == nullptr) return;
  *out += '{';
  bool first = true;
  for (const auto& [label, value] : labels) {
    if (!first) *out += ',';
    first = false;
    *out += label + "=\"";
    AppendEscaped(out, value, true);
    *out += '"';
  }
  if (le != nullptr) {
    if (!first) *out += ',';
    *out += "le=\"" + *le + '"';
  }
  *out += '}';
}

void AppendSample(std::string* out, const std::string& name, const MetricLabels& labels,
                  double value, const std::string* le = nullptr) {
  *out += name;
  AppendLabels(out, labels, le);
  *out += ' ' + FormatNumber(value) + '\n';
}

}  // namespace

void Metrics::Declare(const std::string& name, MetricType type, const std::string& help,
                      std::vector<double> buckets) {
  if (!IsValidName(name, IsMetricNameChar)) {
    Die("invalid metric name \"" + name + "\" (must match [a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  if (type == MetricType::kHistogram) {
    if (buckets.empty()) buckets = DurationBuckets();
    // The +Inf bucket is always rendered; a caller may list it or not.
    if (std::isinf(buckets.back()) && buckets.back() > 0) buckets.pop_back();
    for (size_t i = 0; i < buckets.size(); ++i) {
      if (std::isnan(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
        Die("histogram " + name + ": bucket bounds must be numbers in increasing order");
      }
    }
  } else if (!buckets.empty()) {
    Die("metric " + name + ": only histograms have buckets");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto [it, inserted] = families_.try_emplace(name);
  if (!inserted) {
    if (it->second.type != type) {
      Die("metric " + name + " declared as " + TypeName(type) + " but already declared as " +
          TypeName(it->second.type));
    }
    return;
  }
  it->second.type = type;
  it->second.help = help;
  it->second.buckets = std::move(buckets);
}

Metrics::Family& Metrics::FamilyOf(const std::string& name, MetricType type) {
  auto it = families_.find(name);
  if (it == families_.end()) Die("metric " + name + " used before it was declared");
  if (it->second.type != type) {
    Die("metric " + name + " is a " + TypeName(it->second.type) + ", used as a " + TypeName(type));
  }
  return it->second;
}

void Metrics::Add(const std::string& name, const MetricLabels& labels, double value) {
  if (!(value >= 0)) Die("counter " + name + " can only go up, got " + FormatNumber(value));
  std::lock_guard<std::mutex> lock(mutex_);
  Family& family = FamilyOf(name, MetricType::kCounter);
  family.series[SortedLabels(name, family.type, labels)].value += value;
}

void Metrics::SetTotal(const std::string& name, const MetricLabels& labels, double value) {
  if (!(value >= 0)) Die("counter " + name + " can only go up, got " + FormatNumber(value));
  std::lock_guard<std::mutex> lock(mutex_);
  Family& family = FamilyOf(name, MetricType::kCounter);
  family.series[SortedLabels(name, family.type, labels)].value = value;
}

void Metrics::Set(const std::string& name, const MetricLabels& labels, double value) {
  std::lock_guard<std::mutex> lock(mutex_);
  Family& family = FamilyOf(name, MetricType::kGauge);
  family.series[SortedLabels(name, family.type, labels)].value = value;
}

void Metrics::Clear(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  FamilyOf(name, MetricType::kGauge).series.clear();
}

void Metrics::Observe(const std::string& name, const MetricLabels& labels, double value) {
  std::lock_guard<std::mutex> lock(mutex_);
  Family& family = FamilyOf(name, MetricType::kHistogram);
  Series& series = family.series[SortedLabels(name, family.type, labels)];
  series.bucket_hits.resize(family.buckets.size());
  // Bucket i counts observations in (bound[i-1], bound[i]]; those above every bound are only
  // in the implicit +Inf bucket, which is the count.
  auto bound = std::lower_bound(family.buckets.begin(), family.buckets.end(), value);
  if (bound != family.buckets.end()) ++series.bucket_hits[bound - family.buckets.begin()];
  series.sum += value;
  ++series.count;
}

double Metrics::Value(const std::string& name, const MetricLabels& labels) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) Die("metric " + name + " read before it was declared");
  const Family& family = it->second;
  if (family.type == MetricType::kHistogram) Die("histogram " + name + " has no single value");
  auto series = family.series.find(SortedLabels(name, family.type, labels));
  return series == family.series.end() ? 0 : series->second.value;
}

std::string Metrics::Render() const { return RenderAll({{this, {}}}); }

std::string Metrics::RenderAll(
    const std::vector<std::pair<const Metrics*, MetricLabels>>& registries) {
  // A copy of each registry, taken under its own lock (never two locks at once).
  std::map<std::string, Family> merged;
  for (const auto& [registry, extra] : registries) {
    std::lock_guard<std::mutex> lock(registry->mutex_);
    for (const auto& [name, family] : registry->families_) {
      auto [it, inserted] = merged.try_emplace(name, family);
      if (inserted) it->second.series.clear();
      for (const auto& [labels, series] : family.series) {
        MetricLabels all = labels;
        all.insert(all.end(), extra.begin(), extra.end());
        std::sort(all.begin(), all.end());
        it->second.series[all] = series;
      }
    }
  }
  std::string out;
  for (const auto& [name, family] : merged) {
    out += "# HELP " + name + ' ';
    AppendEscaped(&out, family.help, false);
    out += "\n# TYPE " + name + ' ' + TypeName(family.type) + '\n';
    for (const auto& [labels, series] : family.series) {
      if (family.type != MetricType::kHistogram) {
        AppendSample(&out, name, labels, series.value);
        continue;
      }
      double cumulative = 0;
      for (size_t i = 0; i < family.buckets.size(); ++i) {
        cumulative += series.bucket_hits[i];
        const std::string le = FormatNumber(family.buckets[i]);
        AppendSample(&out, name + "_bucket", labels, cumulative, &le);
      }
      const std::string inf = "+Inf";
      AppendSample(&out, name + "_bucket", labels, series.count, &inf);
      AppendSample(&out, name + "_sum", labels, series.sum);
      AppendSample(&out, name + "_count", labels, series.count);
    }
  }
  return out;
}

std::vector<double> DurationBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

}  // namespace jobsync
