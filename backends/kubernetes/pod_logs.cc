#include "backends/kubernetes/pod_logs.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <utility>

#include "backends/kubernetes/mapping.h"

namespace jobsync {
namespace {

using json = nlohmann::json;

std::string MetaString(const json& pod, const char* group, const std::string& key) {
  const json::json_pointer pointer("/metadata/" + std::string(group));
  if (!pod.contains(pointer)) return "";
  const json& values = pod.at(pointer);
  auto it = values.is_object() ? values.find(key) : values.end();
  return it != values.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string PodString(const json& pod, const char* pointer) {
  const json::json_pointer at(pointer);
  return pod.contains(at) && pod.at(at).is_string() ? pod.at(at).get<std::string>() : "";
}

std::optional<int> ParseIndex(const std::string& text) {
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < 0) {
    return std::nullopt;
  }
  return value;
}

// A listed pod as SelectPodLogs sees it.
struct ListedPod {
  std::string name;
  std::string created;  // RFC 3339: ordered as text
  std::string role;
  std::optional<int> index;
  std::string container;
  bool scheduled = false;  // on a node: the apiserver can ask its kubelet
};

ListedPod ReadPod(const json& pod) {
  ListedPod out;
  out.name = PodString(pod, "/metadata/name");
  out.created = PodString(pod, "/metadata/creationTimestamp");
  out.scheduled = !PodString(pod, "/spec/nodeName").empty();
  out.role = MetaString(pod, "labels", kRoleLabel);
  if (out.role.empty()) out.role = MetaString(pod, "labels", kDlroverReplicaTypeLabel);
  for (const auto& [group, key] :
       {std::pair{"labels", kCompletionIndexKey}, std::pair{"annotations", kCompletionIndexKey},
        std::pair{"labels", kDlroverReplicaIndexLabel}}) {
    out.index = ParseIndex(MetaString(pod, group, key));
    if (out.index) break;
  }
  const json::json_pointer containers("/spec/containers");
  if (pod.contains(containers) && pod.at(containers).is_array()) {
    for (const json& container : pod.at(containers)) {
      const std::string name = container.is_object() ? container.value("name", "") : "";
      if (name.empty()) continue;
      if (out.container.empty() || name == out.role) out.container = name;
      if (name == out.role) break;
    }
  }
  return out;
}

std::string Join(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// Each role's pods by index: the newest pod of each index; pods without an index take the free
// indexes of their role in name order. Pods without a container are left out, and so are pods
// on no node yet (the apiserver answers an empty log for them), counted in `unscheduled`.
std::map<std::string, std::map<int, ListedPod>> ByRoleAndIndex(std::vector<ListedPod> pods,
                                                               int& unscheduled) {
  std::sort(pods.begin(), pods.end(), [](const ListedPod& a, const ListedPod& b) {
    return std::tie(a.role, a.created, a.name) < std::tie(b.role, b.created, b.name);
  });
  std::map<std::string, std::map<int, ListedPod>> out;
  std::map<std::string, std::vector<ListedPod>> unindexed;
  for (ListedPod& pod : pods) {
    if (pod.container.empty()) continue;
    if (!pod.scheduled) {
      ++unscheduled;
      continue;
    }
    if (!pod.index) {
      unindexed[pod.role].push_back(std::move(pod));
      continue;
    }
    out[pod.role][*pod.index] = std::move(pod);  // newer ones come later and win
  }
  for (auto& [role, list] : unindexed) {
    std::sort(list.begin(), list.end(),
              [](const ListedPod& a, const ListedPod& b) { return a.name < b.name; });
    std::map<int, ListedPod>& indexed = out[role];
    int next = 0;
    for (ListedPod& pod : list) {
      while (indexed.count(next) != 0) ++next;
      indexed[next] = std::move(pod);
    }
  }
  return out;
}

// How many replicas `role` may have: its replicas or elastic maximum, or more when pods say so.
int ReplicaRange(const TrainingJob& job, const std::string& role,
                 const std::map<int, ListedPod>* pods) {
  int range = 0;
  auto it = job.roles.find(role);
  if (it != job.roles.end()) {
    range = std::max(it->second.replicas, it->second.max_replicas.value_or(0));
  }
  if (pods != nullptr && !pods->empty()) range = std::max(range, pods->rbegin()->first + 1);
  return range;
}

}  // namespace

StatusOr<std::vector<PodLogSource>> SelectPodLogs(const TrainingJob& job,
                                                  const std::vector<json>& pods,
                                                  const LogQuery& query) {
  const std::string key = job.key().ToString();
  std::vector<ListedPod> listed;
  listed.reserve(pods.size());
  for (const json& pod : pods) listed.push_back(ReadPod(pod));
  int unscheduled = 0;
  const auto by_role = ByRoleAndIndex(std::move(listed), unscheduled);
  std::set<std::string> roles;
  for (const auto& [role, unused] : job.roles) roles.insert(role);
  for (const auto& [role, unused] : by_role) roles.insert(role);
  std::string role = query.role;
  if (!role.empty() && roles.count(role) == 0) {
    return InvalidArgumentError("job " + key + " has no role \"" + role +
                                "\"; its roles: " + Join(roles));
  }
  if (role.empty() && query.index) {
    if (roles.size() != 1) {
      return InvalidArgumentError("--index needs --role: job " + key + " has the roles " +
                                  Join(roles));
    }
    role = *roles.begin();
  }
  auto found = role.empty() ? by_role.end() : by_role.find(role);
  const std::map<int, ListedPod>* role_pods = found != by_role.end() ? &found->second : nullptr;
  if (query.index) {
    const int range = ReplicaRange(job, role, role_pods);
    if (*query.index < 0 || *query.index >= range) {
      return InvalidArgumentError(
          "--index " + std::to_string(*query.index) + " is out of range: role " + role +
          " of job " + key +
          (range == 0 ? " has no replicas" : " has indexes 0 to " + std::to_string(range - 1)));
    }
  }
  std::vector<PodLogSource> out;
  for (const auto& [pod_role, indexed] : by_role) {
    if (!role.empty() && pod_role != role) continue;
    for (const auto& [index, pod] : indexed) {
      if (query.index && index != *query.index) continue;
      out.push_back({pod.name, pod.container, pod_role, index});
    }
  }
  if (out.empty()) {
    std::string which;
    if (query.index) {
      which = ", for " + role + " index " + std::to_string(*query.index);
    } else if (!role.empty()) {
      which = ", of role " + role;
    }
    if (unscheduled > 0) {
      return FailedPreconditionError(
          "job " + key + " has no pods on a node" + which + " (" + std::to_string(unscheduled) +
          " pod" + (unscheduled == 1 ? " waits" : "s wait") + " to be scheduled); try again");
    }
    return FailedPreconditionError("job " + key + " has no pods yet" + which);
  }
  return out;
}

std::string PodLogPrefix(const PodLogSource& source) {
  return "[pod/" + source.pod + "/" + source.container + "] ";
}

KubernetesJobLogs::KubernetesJobLogs(std::unique_ptr<KubernetesClient> client)
    : client_(std::move(client)) {}

StatusOr<std::vector<json>> KubernetesJobLogs::ListPods(const TrainingJob& job) {
  StatusOr<ObjectList> pods =
      client_->List(ResourceKind::kPod, job.namespace_name, JobSelector(job.name));
  if (pods.ok() && pods->items.empty()) {
    pods = client_->List(ResourceKind::kPod, job.namespace_name,
                         std::string(kDlroverJobLabel) + "=" + job.name);
  }
  if (!pods.ok()) {
    return Status(pods.status().code(),
                  "job " + job.key().ToString() + ": " + pods.status().message());
  }
  return std::move(pods->items);
}

Status KubernetesJobLogs::Read(const TrainingJob& job, const LogQuery& query,
                               const LogLineSink& sink) {
  StatusOr<std::vector<json>> pods = ListPods(job);
  if (!pods.ok()) return pods.status();
  StatusOr<std::vector<PodLogSource>> sources = SelectPodLogs(job, *pods, query);
  if (!sources.ok()) return sources.status();
  if (query.follow) return Follow(job, *sources, query, sink);
  const bool prefixed = sources->size() > 1;
  for (const PodLogSource& source : *sources) {
    const std::string prefix = prefixed ? PodLogPrefix(source) : "";
    Status read = client_->PodLog(
        job.namespace_name, source.pod, source.container, query.tail_lines, false,
        [&](std::string_view line) {
          sink(prefix.empty() ? std::string(line) : prefix + std::string(line));
          return true;
        },
        HttpCancellation());
    if (!read.ok()) return read;
  }
  return OkStatus();
}

Status KubernetesJobLogs::Follow(const TrainingJob& job, const std::vector<PodLogSource>& sources,
                                 const LogQuery& query, const LogLineSink& sink) {
  if (sources.size() > kMaxFollowedLogs) {
    return InvalidArgumentError("job " + job.key().ToString() + " has " +
                                std::to_string(sources.size()) + " pods; following more than " +
                                std::to_string(kMaxFollowedLogs) +
                                " logs at once is refused: pick some with --role or --index");
  }
  const bool prefixed = sources.size() > 1;
  std::mutex mutex;
  Status first_failure;  // guarded by mutex
  HttpCancellation cancel;
  std::vector<std::thread> threads;
  threads.reserve(sources.size());
  for (const PodLogSource& source : sources) {
    threads.emplace_back([&, source] {
      const std::string prefix = prefixed ? PodLogPrefix(source) : "";
      Status read = client_->PodLog(
          job.namespace_name, source.pod, source.container, query.tail_lines, true,
          [&](std::string_view line) {
            std::lock_guard<std::mutex> lock(mutex);
            sink(prefix.empty() ? std::string(line) : prefix + std::string(line));
            return true;
          },
          cancel);
      std::lock_guard<std::mutex> lock(mutex);
      if (!read.ok() && first_failure.ok() && !cancel.cancelled()) {
        first_failure = read;
        cancel.Cancel();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  return first_failure;
}

}  // namespace jobsync
