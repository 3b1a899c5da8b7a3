// CheckManifests (loader.h): the checks across files, once every file is parsed: a job defined
// twice, two jobs making one object, dependsOn names that exist and make no cycle.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "schemas/loader.h"
#include "schemas/object_names.h"

namespace jobsync {

LoadResult CheckManifests(const std::vector<ManifestFile>& files) {
  std::vector<const ManifestFile*> pointers;
  pointers.reserve(files.size());
  for (const ManifestFile& file : files) pointers.push_back(&file);
  return CheckManifests(pointers);
}

namespace {

// What CheckManifests builds up: the result, the keys found invalid so far, and every valid job.
struct ManifestCheck {
  LoadResult result;
  std::set<JobKey> invalid;
  std::vector<const ParsedJob*> jobs;
};

using JobsByName = std::map<std::pair<std::string, std::string>, std::vector<const ParsedJob*>>;

// One definition of a job key, valid or not, with the key's fields read in place: no key is
// copied per job (a map of copied keys was a large part of every load at 10,000 jobs).
struct Definition {
  BackendKind backend;
  const std::string* namespace_name;
  const std::string* name;
  const std::string* cluster;
  const SourceLocation* location;

  // The fields in JobKey's order.
  auto Key() const { return std::tie(backend, *namespace_name, *name, *cluster); }
  JobKey ToKey() const { return {backend, *namespace_name, *name, *cluster}; }
};

// Gathers the files' diagnostics and jobs; returns every definition of each key, valid or not,
// ordered by key and then by location: duplicates are reported either way.
std::vector<Definition> CollectFiles(const std::vector<const ManifestFile*>& files,
                                     ManifestCheck& check) {
  std::vector<Definition> definitions;
  for (const ManifestFile* file_pointer : files) {
    const ManifestFile& file = *file_pointer;
    if (file.unreadable) check.result.unreadable_files.push_back(file.path);
    for (const Diagnostic& d : file.diagnostics) check.result.diagnostics.push_back(d);
    for (const Diagnostic& d : file.warnings) check.result.warnings.push_back(d);
    for (const InvalidManifest& m : file.invalid) {
      if (!m.key) continue;
      check.invalid.insert(*m.key);
      definitions.push_back(
          {m.key->backend, &m.key->namespace_name, &m.key->name, &m.key->cluster, &m.location});
    }
    for (const ParsedJob& job : file.jobs) {
      check.jobs.push_back(&job);
      const TrainingJob& parsed = *job.job;
      definitions.push_back({parsed.RunsOn(), &parsed.namespace_name, &parsed.name, &parsed.cluster,
                             &job.name_location});
    }
  }
  std::sort(definitions.begin(), definitions.end(), [](const Definition& a, const Definition& b) {
    if (a.Key() != b.Key()) return a.Key() < b.Key();
    return std::tie(a.location->path, a.location->line, a.location->column) <
           std::tie(b.location->path, b.location->line, b.location->column);
  });
  return definitions;
}

// The same backend/namespace/name defined twice: reports every extra definition, naming the first.
void ReportDuplicates(const std::vector<Definition>& definitions, ManifestCheck& check) {
  for (size_t first = 0, end = 0; first < definitions.size(); first = end) {
    for (end = first + 1;
         end < definitions.size() && definitions[end].Key() == definitions[first].Key(); ++end) {
      check.result.diagnostics.push_back(
          {*definitions[end].location,
           "job " + definitions[first].ToKey().ToString() + " is defined twice: first at " +
               definitions[first].location->ToString(),
           "each backend/namespace/name must appear once; rename or remove one"});
    }
    if (end - first > 1) check.invalid.insert(definitions[first].ToKey());
  }
}

// Two jobs of a namespace that would make the same object (job "a" with role "b-c" and job
// "a-b" with role "c" both make the Job "a-b-c"): whatever happened next, one job adopting or
// deleting the other's object, would be wrong. Both are invalid, so neither is applied and
// nothing live is deleted for them; each diagnostic names the other job. The first job (in file
// order) to make an object is its maker; each later one with another key clashes with it.
void ReportObjectClashes(ManifestCheck& check) {
  struct Made {
    const std::string* namespace_name;
    const GeneratedObject* object;  // the job's own (ParsedJob::objects)
    size_t order;                   // of the job in check.jobs
  };
  std::vector<Made> made;
  made.reserve(check.jobs.size() * 2);
  for (size_t i = 0; i < check.jobs.size(); ++i) {
    for (const GeneratedObject& object : check.jobs[i]->objects) {
      made.push_back({&check.jobs[i]->job->namespace_name, &object, i});
    }
  }
  auto object_of = [](const Made& m) {
    return std::tie(*m.namespace_name, m.object->kind, m.object->name);
  };
  std::sort(made.begin(), made.end(), [&](const Made& a, const Made& b) {
    return std::tuple_cat(object_of(a), std::tie(a.order)) <
           std::tuple_cat(object_of(b), std::tie(b.order));
  });
  for (size_t first = 0, end = 0; first < made.size(); first = end) {
    const ParsedJob* maker = check.jobs[made[first].order];
    for (end = first + 1; end < made.size() && object_of(made[end]) == object_of(made[first]);
         ++end) {
      const ParsedJob* job = check.jobs[made[end].order];
      if (job->job->key() == maker->job->key()) continue;  // duplicates: above
      const GeneratedObject& object = *made[end].object;
      for (const auto& [here, there] : {std::pair{job, maker}, std::pair{maker, job}}) {
        check.result.diagnostics.push_back(
            {here->name_location,
             "job " + here->job->key().ToString() + " would make the Kubernetes " + object.kind +
                 " '" + object.name + "', which job " + there->job->key().ToString() + " (at " +
                 there->name_location.ToString() + ") makes too",
             "names are <job>-<role>: rename a job or a role so that the names differ"});
      }
      check.invalid.insert(job->job->key());
      check.invalid.insert(maker->job->key());
    }
  }
}

// dependsOn names jobs of the same namespace (any backend) that exist.
void ReportMissingDependencies(const JobsByName& by_name, ManifestCheck& check) {
  for (const ParsedJob* job : check.jobs) {
    for (size_t i = 0; i < job->job->depends_on.size(); ++i) {
      const std::string& dep = job->job->depends_on[i];
      if (by_name.count({job->job->namespace_name, dep})) continue;
      check.result.diagnostics.push_back(
          {job->depends_on_locations[i],
           "spec.dependsOn: job '" + dep + "' does not exist in namespace '" +
               job->job->namespace_name + "'",
           "dependsOn names jobs of the same namespace; check the spelling or add the job"});
      check.invalid.insert(job->job->key());
    }
  }
}

// Finds dependsOn cycles by depth-first search with colours: a grey node met again closes a
// cycle. Each cycle is reported once, from its alphabetically first job; its jobs are invalid.
class CycleFinder {
 public:
  CycleFinder(const JobsByName& by_name, ManifestCheck& check) : by_name_(by_name), check_(check) {}

  void Run() {
    for (const ParsedJob* job : check_.jobs) {
      if (colour_[job] == 0) Visit(job);
    }
  }

 private:
  void Visit(const ParsedJob* job) {
    colour_[job] = 1;
    stack_.push_back(job);
    for (const std::string& dep : job->job->depends_on) {
      auto it = by_name_.find({job->job->namespace_name, dep});
      if (it == by_name_.end()) continue;
      for (const ParsedJob* next : it->second) {
        if (colour_[next] == 1) {
          ReportCycle(std::find(stack_.begin(), stack_.end(), next));
        } else if (colour_[next] == 0) {
          Visit(next);
        }
      }
    }
    stack_.pop_back();
    colour_[job] = 2;
  }

  void ReportCycle(std::vector<const ParsedJob*>::const_iterator begin) {
    std::vector<std::string> cycle;
    for (auto p = begin; p != stack_.cend(); ++p) cycle.push_back((*p)->job->name);
    std::vector<std::string> canonical = cycle;
    std::rotate(canonical.begin(), std::min_element(canonical.begin(), canonical.end()),
                canonical.end());
    for (auto p = begin; p != stack_.cend(); ++p) check_.invalid.insert((*p)->job->key());
    if (!reported_.insert(canonical).second) return;
    std::string text;
    for (const std::string& name : canonical) text += name + " -> ";
    text += canonical.front();
    check_.result.diagnostics.push_back({(*begin)->name_location,
                                         "spec.dependsOn: dependency cycle: " + text,
                                         "remove one of the dependsOn entries to break the cycle"});
  }

  const JobsByName& by_name_;
  ManifestCheck& check_;
  std::map<const ParsedJob*, int> colour_;  // 0 white, 1 grey, 2 black
  std::vector<const ParsedJob*> stack_;
  std::set<std::vector<std::string>> reported_;
};

// The valid jobs ordered by key (the comparison reads the key's fields in place: JobKey's
// order), and everything else sorted.
LoadResult Finish(ManifestCheck& check) {
  LoadResult& result = check.result;
  result.jobs.reserve(check.jobs.size());
  for (const ParsedJob* job : check.jobs) {
    if (check.invalid.empty() || !check.invalid.count(job->job->key())) {
      result.jobs.push_back(job->job);
    }
  }
  std::sort(result.jobs.begin(), result.jobs.end(), [](const auto& a, const auto& b) {
    return std::tie(a->backend, a->namespace_name, a->name) <
           std::tie(b->backend, b->namespace_name, b->name);
  });
  result.invalid_jobs.assign(check.invalid.begin(), check.invalid.end());
  std::sort(result.unreadable_files.begin(), result.unreadable_files.end());
  std::sort(result.diagnostics.begin(), result.diagnostics.end());
  std::sort(result.warnings.begin(), result.warnings.end());
  return std::move(result);
}

}  // namespace

LoadResult CheckManifests(const std::vector<const ManifestFile*>& files) {
  ManifestCheck check;
  ReportDuplicates(CollectFiles(files, check), check);
  ReportObjectClashes(check);
  // dependsOn, checked when some job has it (most repositories: none).
  const bool depends = std::any_of(check.jobs.begin(), check.jobs.end(), [](const ParsedJob* job) {
    return !job->job->depends_on.empty();
  });
  if (!depends) return Finish(check);
  JobsByName by_name;
  for (const ParsedJob* job : check.jobs) {
    by_name[{job->job->namespace_name, job->job->name}].push_back(job);
  }
  ReportMissingDependencies(by_name, check);
  CycleFinder(by_name, check).Run();
  return Finish(check);
}

}  // namespace jobsync
