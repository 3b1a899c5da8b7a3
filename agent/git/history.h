// The audit trail of one job: which commits changed it, who made them, and what changed.
// Pure logic over the GitSource interface (no libgit2 here), so it is tested with real
// repositories and could be with a fake source.
//
// The job is found by backend/namespace/name in the manifests of every commit, never by file
// path, so renames and moves between files are followed. History follows first parents: what
// the followed branch itself saw, a merged pull request showing as its merge commit.
#ifndef JOBSYNC_AGENT_GIT_HISTORY_H_
#define JOBSYNC_AGENT_GIT_HISTORY_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/git/git_source.h"
#include "common/status.h"
#include "schemas/model.h"

namespace jobsync {

// A job as people name it: NAMESPACE/NAME (any backend) or BACKEND/NAMESPACE/NAME.
struct JobSelector {
  std::optional<BackendKind> backend;
  std::string namespace_name;
  std::string name;

  // Fails with InvalidArgument on anything but the two forms above.
  static StatusOr<JobSelector> Parse(std::string_view text);
  bool Matches(const JobKey& key) const;
  // "vision/resnet50" or "ray/vision/resnet50", as given.
  std::string ToString() const;
};

// One commit that changed the job.
struct JobHistoryEntry {
  CommitInfo commit;
  // The file holding the job after the commit; for a deletion, the file it was deleted from.
  // Empty when the job's manifest is invalid on both sides.
  std::string path;
  std::vector<std::string> changes;  // "created", "worker replicas 2 -> 6", "deleted", ...
};

// Lists the commits from `tip` back that changed the job selected, newest first, looking at the
// newest `max_commits` commits only (0: all of them). Commits where the job's manifest did not
// change in substance (comments, other jobs) are left out. `tip` must be in the source's cache
// (Fetch it first). Fails when the tip cannot be loaded; older commits whose tree lacks the
// source's --path count as commits without the job.
StatusOr<std::vector<JobHistoryEntry>> JobHistory(GitSource& source, const std::string& tip,
                                                  const JobSelector& job, size_t max_commits = 0);

// What differs between two versions of a job, field by field, in a fixed order
// ("image trainer:v1 -> trainer:v2", "worker replicas 2 -> 6", "env EPOCHS unset -> 90").
// Empty when the specs are equal; the source location is not compared.
std::vector<std::string> DescribeJobChanges(const TrainingJob& before, const TrainingJob& after);

// "2024-05-02 10:00:00 +0200" in the author's time zone.
std::string FormatCommitTime(const CommitInfo& commit);

// The history as text for people: one line per commit (short id, date, author, summary),
// then one indented line per change.
std::string FormatHistoryText(const JobSelector& job, const std::vector<JobHistoryEntry>& history);

// The same as data: {"job": ..., "commits": [{"commit", "short", "time", "author", "email",
// "summary", "path", "changes": [...]}]}, newest first; "time" is RFC 3339.
nlohmann::json HistoryToJson(const JobSelector& job, const std::vector<JobHistoryEntry>& history);

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_GIT_HISTORY_H_
