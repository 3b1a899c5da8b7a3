#include "agent/server/jobs_index.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <set>
#include <tuple>
#include <utility>

namespace jobsync {
namespace {

constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
// The longest plan text the summary carries (it is in every answer).
constexpr size_t kPlanTextLimit = size_t{16} * 1024;

// The members of the status the summary carries as they are.
constexpr const char* kSummaryMembers[] = {"instance",
                                           "repo",
                                           "branch",
                                           "path",
                                           "revision",
                                           "writer",
                                           "leaderElection",
                                           "shards",
                                           "shardCount",
                                           "ownShard",
                                           "lastSync",
                                           "lastAppliedRevision",
                                           "lastAttemptedRevision",
                                           "conditions",
                                           "git",
                                           "backends",
                                           "drift",
                                           "prune"};

std::string StringMember(const nlohmann::json& object, const char* name) {
  const auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : "";
}

std::string Lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

// Parses a whole positive decimal number no larger than `max`.
bool ParseCount(const std::string& text, int max, int* value) {
  int parsed = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (error != std::errc() || end != text.data() + text.size() || parsed < 1 || parsed > max) {
    return false;
  }
  *value = parsed;
  return true;
}

// The sorted distinct keys of `postings`.
nlohmann::json Keys(const std::unordered_map<std::string, std::vector<uint32_t>>& postings) {
  std::set<std::string> keys;
  for (const auto& [key, rows] : postings) {
    if (!key.empty()) keys.insert(key);
  }
  return nlohmann::json(std::vector<std::string>(keys.begin(), keys.end()));
}

nlohmann::json Counts(const std::unordered_map<std::string, std::vector<uint32_t>>& postings) {
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [key, rows] : postings) counts[key] = rows.size();
  return counts;
}

// The status's plan for the summary: {"summary": RenderJson's counts, "text": its text, cut
// after the last whole line within kPlanTextLimit bytes with a line saying so}.
nlohmann::json PlanSummary(const nlohmann::json& status) {
  nlohmann::json plan = {{"summary", nlohmann::json::object()}, {"text", ""}};
  const auto found = status.find("plan");
  if (found == status.end() || !found->is_object()) return plan;
  if (const auto steps = found->find("steps"); steps != found->end() && steps->is_object()) {
    if (const auto counts = steps->find("summary"); counts != steps->end()) {
      plan["summary"] = *counts;
    }
  }
  std::string text = StringMember(*found, "text");
  if (text.size() > kPlanTextLimit) {
    const size_t cut = text.rfind('\n', kPlanTextLimit);
    const size_t kept = cut == std::string::npos ? 0 : cut + 1;
    const auto more =
        std::count(text.begin() + static_cast<std::ptrdiff_t>(kept), text.end(), '\n');
    text.resize(kept);
    text += "... " + std::to_string(more) +
            " more lines: the whole plan is in GET /api/v1/status, or run jobsync plan\n";
  }
  plan["text"] = std::move(text);
  return plan;
}

}  // namespace

StatusOr<JobsQuery> ParseJobsQuery(const std::multimap<std::string, std::string>& params) {
  JobsQuery query;
  for (const auto& [name, value] : params) {
    if (name == "q") {
      query.q = value;
    } else if (name == "namespace") {
      query.namespace_name = value;
    } else if (name == "team") {
      query.team = value;
    } else if (name == "sync") {
      query.sync = value;
    } else if (name == "health") {
      query.health = value;
    } else if (name == "page") {
      if (!ParseCount(value, 1 << 30, &query.page)) {
        return InvalidArgumentError("query parameter page=\"" + value +
                                    "\" is not a page number; give a whole number from 1");
      }
    } else if (name == "limit") {
      if (!ParseCount(value, kMaxJobsPageLimit, &query.limit)) {
        return InvalidArgumentError("query parameter limit=\"" + value +
                                    "\" is not a page size; give a whole number from 1 to " +
                                    std::to_string(kMaxJobsPageLimit));
      }
    }
  }
  return query;
}

std::string JobsQueryKey(const JobsQuery& query) {
  // Dumped as a JSON array: no value can run into the next one.
  return nlohmann::json::array({query.q, query.namespace_name, query.team, query.sync, query.health,
                                query.page, query.limit})
      .dump(-1, ' ', false, kReplace);
}

std::shared_ptr<const JobsIndex> JobsIndex::Build(const nlohmann::json& status, uint64_t revision) {
  auto index = std::shared_ptr<JobsIndex>(new JobsIndex());
  index->revision_ = revision;
  // Each row with what it sorts by: namespace, name, then the key (backend, cluster).
  std::vector<std::tuple<std::string, std::string, std::string, IndexedRow>> entries;
  const auto jobs = status.find("jobs");
  if (jobs != status.end() && jobs->is_array()) {
    entries.reserve(jobs->size());
    for (const nlohmann::json& job : *jobs) {
      if (!job.is_object()) continue;
      IndexedRow row;
      row.text = job.dump(-1, ' ', false, kReplace);
      const std::string name = StringMember(job, "name");
      row.lower_name = Lower(name);
      row.namespace_name = StringMember(job, "namespace");
      const auto labels = job.find("labels");
      if (labels != job.end() && labels->is_object()) row.team = StringMember(*labels, "team");
      row.sync = StringMember(job, "sync");
      row.health = StringMember(job, "health");
      row.has_error = !StringMember(job, "lastError").empty();
      // The sort keys are copied before the row is moved into the same tuple.
      std::string namespace_name = row.namespace_name;
      entries.emplace_back(std::move(namespace_name), name, StringMember(job, "key"),
                           std::move(row));
    }
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<1>(a), std::get<2>(a)) <
           std::tie(std::get<0>(b), std::get<1>(b), std::get<2>(b));
  });
  index->rows_.reserve(entries.size());
  for (auto& [namespace_name, name, key, row] : entries) {
    const auto at = static_cast<uint32_t>(index->rows_.size());
    if (!key.empty()) index->by_key_.emplace(key, at);
    index->by_namespace_[row.namespace_name].push_back(at);
    index->by_team_[row.team].push_back(at);
    index->by_sync_[row.sync].push_back(at);
    index->by_health_[row.health].push_back(at);
    index->rows_.push_back(std::move(row));
  }
  index->BuildSummary(status);
  return index;
}

void JobsIndex::BuildSummary(const nlohmann::json& status) {
  summary_ = nlohmann::json::object();
  for (const char* member : kSummaryMembers) {
    const auto found = status.find(member);
    if (found != status.end()) summary_[member] = *found;
  }
  size_t errors = 0;
  for (const IndexedRow& row : rows_) errors += row.has_error ? 1 : 0;
  summary_["counts"] = {
      {"sync", Counts(by_sync_)}, {"health", Counts(by_health_)}, {"errors", errors}};
  summary_["plan"] = PlanSummary(status);
  summary_["namespaces"] = Keys(by_namespace_);
  summary_["teams"] = Keys(by_team_);
  summary_text_ = summary_.dump(-1, ' ', false, kReplace);
}

std::vector<uint32_t> JobsIndex::Select(const JobsQuery& query) const {
  // The shortest list a filter selects; every row when no filter is set.
  const std::vector<uint32_t>* shortest = nullptr;
  bool all = true;
  for (const auto& [value, postings] :
       {std::pair{&query.namespace_name, &by_namespace_}, std::pair{&query.team, &by_team_},
        std::pair{&query.sync, &by_sync_}, std::pair{&query.health, &by_health_}}) {
    if (value->empty()) continue;
    all = false;
    const auto found = postings->find(*value);
    if (found == postings->end()) return {};
    if (shortest == nullptr || found->second.size() < shortest->size()) shortest = &found->second;
  }
  const std::string needle = Lower(query.q);
  const auto matches = [&](uint32_t at) {
    const IndexedRow& row = rows_[at];
    return (query.namespace_name.empty() || row.namespace_name == query.namespace_name) &&
           (query.team.empty() || row.team == query.team) &&
           (query.sync.empty() || row.sync == query.sync) &&
           (query.health.empty() || row.health == query.health) &&
           (needle.empty() || row.lower_name.find(needle) != std::string::npos);
  };
  std::vector<uint32_t> selected;
  if (all) {
    for (uint32_t at = 0; at < rows_.size(); ++at) {
      if (matches(at)) selected.push_back(at);
    }
  } else {
    for (uint32_t at : *shortest) {
      if (matches(at)) selected.push_back(at);
    }
  }
  return selected;
}

std::string JobsIndex::Page(const JobsQuery& query) const {
  const std::vector<uint32_t> selected = Select(query);
  const size_t limit = static_cast<size_t>(std::clamp(query.limit, 1, kMaxJobsPageLimit));
  const size_t pages = std::max<size_t>(1, (selected.size() + limit - 1) / limit);
  const size_t page = std::min(static_cast<size_t>(std::max(query.page, 1)), pages);
  const size_t begin = (page - 1) * limit;
  const size_t end = std::min(selected.size(), begin + limit);
  std::string out =
      nlohmann::json{{"revision", revision_}, {"total", rows_.size()}, {"matched", selected.size()},
                     {"page", page},          {"limit", limit},        {"pages", pages}}
          .dump();
  out.pop_back();  // the closing brace: the summary and the rows follow
  size_t bytes = summary_text_.size() + 32;
  for (size_t i = begin; i < end; ++i) bytes += rows_[selected[i]].text.size() + 1;
  out.reserve(out.size() + bytes);
  out += ",\"summary\":";
  out += summary_text_;
  out += ",\"jobs\":[";
  for (size_t i = begin; i < end; ++i) {
    if (i > begin) out += ',';
    out += rows_[selected[i]].text;
  }
  out += "]}";
  return out;
}

const std::string* JobsIndex::Row(const std::string& key) const {
  const auto found = by_key_.find(key);
  return found == by_key_.end() ? nullptr : &rows_[found->second].text;
}

}  // namespace jobsync
