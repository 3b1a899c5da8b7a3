// The jobs API's view of one published status (GET /api/v1/jobs, jobs_api.h): every job's row
// as the status document lists it, in the order namespace, name, backend, cluster; a posting
// list of rows per namespace, team label, sync state and health; each name lower-cased for the
// search; and the summary of the whole status (counts per sync state and health, the agent's
// identity, leadership, last sync, Git and backends).
//
// Built once per published status (JobsIndex::Build), then shared read-only by every request: a
// query walks the shortest posting list its filters select (every row without filters), checks
// the other filters and the name on each row, and copies out the rows of one page; it never
// parses the status again. Immutable after Build, so thread-safe.
#ifndef JOBSYNC_AGENT_SERVER_JOBS_INDEX_H_
#define JOBSYNC_AGENT_SERVER_JOBS_INDEX_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace jobsync {

// One request's filters and page. Empty filters match every job.
struct JobsQuery {
  std::string q;               // part of the job's name, any case
  std::string namespace_name;  // exactly the job's namespace
  std::string team;            // exactly the value of the job's "team" label
  std::string sync;            // exactly the job's sync state (Synced, OutOfSync, Error, ...)
  std::string health;          // exactly the job's health (Healthy, Degraded, ...)
  int page = 1;                // 1-based; past the last page means the last page
  int limit = 50;              // rows per page, 1 to kMaxJobsPageLimit
};

inline constexpr int kMaxJobsPageLimit = 500;

// Reads q, namespace, team, sync, health, page and limit (other parameters are ignored; the last
// of repeated ones counts). Fails with kInvalidArgument, naming the parameter and the values it
// takes, when page is not a number from 1 or limit not one from 1 to kMaxJobsPageLimit.
StatusOr<JobsQuery> ParseJobsQuery(const std::multimap<std::string, std::string>& params);

// The query written out in one canonical form: equal for queries that select the same rows and
// page (page and limit as parsed, filters in a fixed order). Used in the ETag.
std::string JobsQueryKey(const JobsQuery& query);

class JobsIndex {
 public:
  // Indexes `status` (the /api/v1/status document: its "jobs" array and the members around it).
  // `revision` numbers this status for the clients (JobsPage's "revision"). A job without a
  // name or key is listed with empty fields rather than dropped.
  static std::shared_ptr<const JobsIndex> Build(const nlohmann::json& status, uint64_t revision);

  uint64_t revision() const { return revision_; }
  size_t size() const { return rows_.size(); }

  // The page `query` selects, as JSON text:
  //   {"revision": n, "total": jobs in the status, "matched": jobs the filters select,
  //    "page": the page given (1 when nothing matched), "limit": n, "pages": n (at least 1),
  //    "summary": summary(), "jobs": [the status's rows of the page]}
  std::string Page(const JobsQuery& query) const;

  // The status's row (JSON text) of the job whose "key" is `key` (JobKey::ToString()); null when
  // none. Valid as long as the index.
  const std::string* Row(const std::string& key) const;

  // {"instance", "repo", "branch", "path", "revision", "writer", "leaderElection", "shards",
  //  "shardCount", "ownShard", "lastSync", "lastAppliedRevision", "lastAttemptedRevision",
  //  "conditions", "git", "backends", "drift", "prune"} as the status has them (those it lacks
  // are left out), "plan": {"summary": the counts of the last plan's steps as RenderJson gives
  // them, "text": its text, cut after 16 KiB with a line saying so}, and "counts": {"sync": {state:
  // n}, "health": {state: n}, "errors": jobs with a last error}, "namespaces" and "teams": the
  // values the filters take, sorted.
  const nlohmann::json& summary() const { return summary_; }

 private:
  struct IndexedRow {
    std::string text;        // the status's row, dumped
    std::string lower_name;  // for the search
    std::string namespace_name;
    std::string team;
    std::string sync;
    std::string health;
    bool has_error = false;  // a last error is set
  };
  using Postings = std::unordered_map<std::string, std::vector<uint32_t>>;

  // Fills summary_ and summary_text_ from `status` and the rows.
  void BuildSummary(const nlohmann::json& status);
  // The rows `query` selects, in index order.
  std::vector<uint32_t> Select(const JobsQuery& query) const;

  uint64_t revision_ = 0;
  std::vector<IndexedRow> rows_;
  std::unordered_map<std::string, uint32_t> by_key_;
  Postings by_namespace_;
  Postings by_team_;
  Postings by_sync_;
  Postings by_health_;
  nlohmann::json summary_;
  std::string summary_text_;
};

}  // namespace jobsync

#endif  // JOBSYNC_AGENT_SERVER_JOBS_INDEX_H_
