#include "diff/field_rules.h"

#include <algorithm>
#include <set>
#include <utility>

#include "diff/shards.h"

namespace jobsync {
namespace {

// The first `count` plain segments of `path` ("spec.roles.worker.resources.cpu", 4 ->
// {spec, roles, worker, resources}); fewer when the path has fewer, and a bracketed key
// (["jobsync.dev/prune"]) ends the walk.
std::vector<std::string> Segments(const std::string& path, size_t count) {
  std::vector<std::string> out;
  std::string current;
  for (char c : path) {
    if (c == '.' || c == '[') {
      out.push_back(current);
      current.clear();
      if (out.size() == count || c == '[') return out;
      continue;
    }
    current.push_back(c);
  }
  if (!current.empty() && out.size() < count) out.push_back(current);
  return out;
}

// `segments` joined by '.'.
std::string Dotted(const std::vector<std::string>& segments) {
  std::string out;
  for (const std::string& segment : segments) out += (out.empty() ? "" : ".") + segment;
  return out;
}

// Why a container or pod setting recreates the job.
std::string PodTemplateWhy(BackendKind backend) {
  return backend == BackendKind::kRay
             ? "a Ray submission cannot change: it is stopped and submitted again"
             : "a running Job's pod template cannot change";
}

FieldRule Recreate(std::string field, std::string why) {
  return {FieldEffect::kRecreate, std::move(field), std::move(why)};
}

// The rule of a spec.roles.<role>.<field> change of a role both sides have.
FieldRule RoleFieldRule(const std::vector<std::string>& segments, BackendKind backend,
                        bool finished, bool jobset) {
  const std::string field = Dotted(segments);
  const std::string& name = segments.size() > 3 ? segments[3] : std::string();
  if (name == "replicas") {
    if (finished) {
      return Recreate(field, "a finished job does not scale: it runs again at the new size");
    }
    if (jobset) return Recreate(field, "a JobSet's replicated jobs cannot change; recreated");
    return {FieldEffect::kScale, field, ""};
  }
  if (name == "minReplicas" || name == "maxReplicas") {
    return Recreate(
        field,
        backend == BackendKind::kRay
            ? "elastic bounds reach the processes as environment: " + PodTemplateWhy(backend)
            : "elastic bounds reach the pods as environment, and " + PodTemplateWhy(backend));
  }
  return Recreate(field, PodTemplateWhy(backend));
}

bool IsKubeRay(const TrainingJob& job) {
  return job.backend == BackendKind::kRay && job.ray && job.ray->cluster == RayCluster::kKubeRay;
}

// A KubeRay RayJob: KubeRay does not carry a change of its Ray cluster (worker groups, their
// replicas and pods) to the cluster it made, so everything but suspend and metadata recreates it.
FieldRule KubeRayRule(FieldRule rule) {
  if (rule.effect == FieldEffect::kRecreate && rule.why == PodTemplateWhy(BackendKind::kRay)) {
    rule.why = "KubeRay does not change a RayJob's Ray cluster once made";
  }
  const bool suspend = rule.field == "spec.suspend";
  if (rule.effect == FieldEffect::kScale && !suspend) {
    return Recreate(rule.field, "KubeRay does not change a RayJob's Ray cluster once made");
  }
  return rule;
}

}  // namespace

FieldRule RuleFor(const std::string& path, BackendKind backend, bool role_on_both_sides,
                  bool finished, bool jobset) {
  const std::vector<std::string> segments = Segments(path, 4);
  const std::string top = segments.empty() ? std::string() : segments[0];
  const std::string name = segments.size() > 1 ? segments[1] : std::string();
  const std::string field =
      Dotted({segments.begin(), segments.begin() + std::min<size_t>(2, segments.size())});
  if (top == "metadata") {
    if (name == "annotations") return {FieldEffect::kPatch, field, ""};
    // The shard label only routes the job among the agent's replicas (diff/shards.h): it is not
    // copied onto the objects, so moving a job between shards restarts nothing.
    if (path == std::string("metadata.labels[\"") + kShardLabel + "\"]") {
      return {FieldEffect::kPatch, path, ""};
    }
    if (name == "labels") {
      return Recreate(field,
                      backend == BackendKind::kRay
                          ? "labels are part of the submission's metadata, which cannot "
                            "change"
                          : "labels are copied onto the pods, and " + PodTemplateWhy(backend));
    }
    return Recreate(field, PodTemplateWhy(backend));
  }
  if (name == "activeDeadlineSeconds" || name == "ttlSecondsAfterFinished") {
    if (backend == BackendKind::kKubernetes) return {FieldEffect::kPatch, field, ""};
    return Recreate(field, PodTemplateWhy(backend));
  }
  if (name == "suspend") return {FieldEffect::kScale, field, ""};
  if (name == "runId") return {FieldEffect::kRerun, field, "a new run of the same spec"};
  if (name == "roles") {
    if (segments.size() < 3) return Recreate(field, "the job's roles change");
    if (!role_on_both_sides) {
      return Recreate(Dotted({segments.begin(), segments.begin() + 3}),
                      "a role added or removed adds or removes its Jobs");
    }
    return RoleFieldRule(segments, backend, finished, jobset);
  }
  if (name == "dependsOn") {
    return Recreate(field, "a job waits for its dependencies only when it is created");
  }
  if (name == "failurePolicy" && backend == BackendKind::kKubernetes) {
    return Recreate(field, "a Job's backoffLimitPerIndex and podFailurePolicy cannot change");
  }
  if (name == "ray") {
    return Recreate(
        Dotted({segments.begin(), segments.begin() + std::min<size_t>(3, segments.size())}),
        PodTemplateWhy(BackendKind::kRay));
  }
  if (name == "queue") {
    return Recreate(field, "Kueue admits a workload through the queue it was created in");
  }
  if (name == "kubernetes" && segments.size() > 2 && segments[2] == "elasticJob") {
    return Recreate("spec.kubernetes.elasticJob",
                    "DLRover's operator takes replica changes (as ScalePlans) and suspend on a "
                    "created ElasticJob, nothing else");
  }
  if (name == "kubernetes" && segments.size() > 2 && segments[2] == "workload") {
    return Recreate("spec.kubernetes.workload",
                    "the workload kind changes: its objects are replaced");
  }
  if (name == "kubernetes") {
    return Recreate(
        Dotted({segments.begin(), segments.begin() + std::min<size_t>(3, segments.size())}),
        PodTemplateWhy(backend));
  }
  return Recreate(field, PodTemplateWhy(backend));
}

std::vector<FieldRule> RulesFor(const std::vector<FieldChange>& changes, const TrainingJob& have,
                                const TrainingJob& want, bool finished) {
  std::vector<FieldRule> rules;
  std::set<std::string> seen;
  for (const FieldChange& change : changes) {
    const std::vector<std::string> segments = Segments(change.field, 3);
    bool on_both_sides = true;
    if (segments.size() == 3 && segments[0] == "spec" && segments[1] == "roles") {
      on_both_sides = have.roles.count(segments[2]) != 0 && want.roles.count(segments[2]) != 0;
    }
    const bool jobset = want.backend == BackendKind::kKubernetes &&
                        have.workload == KubernetesWorkload::kJobSet &&
                        want.workload == KubernetesWorkload::kJobSet;
    FieldRule rule = RuleFor(change.field, want.backend, on_both_sides, finished, jobset);
    if (IsKubeRay(want)) rule = KubeRayRule(std::move(rule));
    if (seen.insert(rule.field).second) rules.push_back(std::move(rule));
  }
  return rules;
}

FieldEffect StrongestEffect(const std::vector<FieldRule>& rules) {
  FieldEffect strongest = FieldEffect::kPatch;
  for (const FieldRule& rule : rules) strongest = std::max(strongest, rule.effect);
  return strongest;
}

std::string ExplainFields(const std::vector<FieldRule>& rules, FieldEffect effect) {
  std::vector<std::pair<std::string, std::string>> groups;  // why, fields
  for (const FieldRule& rule : rules) {
    if (rule.effect != effect) continue;
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const auto& g) { return g.first == rule.why; });
    if (group == groups.end()) {
      groups.emplace_back(rule.why, rule.field);
    } else {
      group->second += ", " + rule.field;
    }
  }
  std::string out;
  for (const auto& [why, fields] : groups) {
    out += (out.empty() ? "" : "; ") + fields + (why.empty() ? "" : ": " + why);
  }
  return out;
}

std::string PatchedFields(const std::vector<FieldRule>& rules) {
  std::string out;
  for (const FieldRule& rule : rules) {
    if (rule.effect != FieldEffect::kPatch) continue;
    out += (out.empty() ? "" : ", ") +
           (rule.field == "metadata.annotations" ? std::string("annotations") : rule.field);
  }
  return out;
}

}  // namespace jobsync
