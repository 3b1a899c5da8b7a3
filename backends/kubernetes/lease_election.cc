#include "backends/kubernetes/lease_election.h"

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <utility>

#include <nlohmann/json.hpp>

namespace jobsync {
namespace {

using nlohmann::json;
using std::chrono::steady_clock;

std::string StringField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t IntegerField(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// The Lease's claim annotation, "" when absent.
std::string ClaimOf(const json& lease) {
  auto metadata = lease.find("metadata");
  if (metadata == lease.end() || !metadata->is_object()) return "";
  auto annotations = metadata->find("annotations");
  if (annotations == metadata->end() || !annotations->is_object()) return "";
  return StringField(*annotations, kClaimAnnotation);
}

// leaseDurationSeconds for `duration`, rounded up: followers wait at least as long as the
// leader believes it leads.
int64_t LeaseSeconds(std::chrono::milliseconds duration) { return (duration.count() + 999) / 1000; }

std::string Millis(std::chrono::milliseconds duration) {
  return std::to_string(duration.count()) + "ms";
}

Status CheckOptions(const LeaderElectionOptions& options) {
  const std::string prefix = "leader election: ";
  if (options.namespace_name.empty()) return InvalidArgumentError(prefix + "namespace is empty");
  if (options.lease_name.empty()) return InvalidArgumentError(prefix + "lease name is empty");
  if (options.identity.empty()) return InvalidArgumentError(prefix + "identity is empty");
  if (options.retry_period.count() <= 0) {
    return InvalidArgumentError(prefix + "retry period must be positive");
  }
  if (options.renew_deadline <= options.retry_period) {
    return InvalidArgumentError(prefix + "renew deadline (" + Millis(options.renew_deadline) +
                                ") must be longer than the retry period (" +
                                Millis(options.retry_period) + "), or the leader cannot renew");
  }
  if (options.lease_duration <= options.renew_deadline) {
    return InvalidArgumentError(prefix + "lease duration (" + Millis(options.lease_duration) +
                                ") must be longer than the renew deadline (" +
                                Millis(options.renew_deadline) +
                                "), so a leader steps down before a follower takes over");
  }
  return OkStatus();
}

}  // namespace

std::string MicroTimeNow() {
  const auto now = std::chrono::system_clock::now();
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &utc);
  char fraction[16];
  std::snprintf(fraction, sizeof(fraction), ".%06dZ", static_cast<int>(micros % 1000000));
  return std::string(date) + fraction;
}

LeaseElector::LeaseElector(KubernetesClient& client, LeaderElectionOptions options,
                           std::function<void(bool)> on_change)
    : client_(client), options_(std::move(options)), on_change_(std::move(on_change)) {}

LeaseElector::~LeaseElector() { Stop(); }

Status LeaseElector::Start() {
  JOBSYNC_RETURN_IF_ERROR(CheckOptions(options_));
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return FailedPreconditionError("leader election: stopped; it cannot restart");
  if (thread_.joinable()) return FailedPreconditionError("leader election: already started");
  thread_ = std::thread(&LeaseElector::Loop, this);
  return OkStatus();
}

void LeaseElector::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    // Called from on_change the loop ends by itself; joining would wait for this very thread.
    if (thread_.get_id() != std::this_thread::get_id()) thread = std::move(thread_);
  }
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

bool LeaseElector::is_leader() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return leader_ && steady_clock::now() - last_renewal_ < options_.renew_deadline;
}

std::string LeaseElector::holder() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return holder_;
}

Status LeaseElector::last_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_error_;
}

void LeaseElector::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const bool holds = TryAcquireOrRenew();
    if (yield_) {
      yield_ = false;
      // Claimed by the shard's own replica: step down, then release (Release does both).
      Release();
      lock.lock();
      wake_.wait_for(lock, options_.retry_period, [this] { return stopping_; });
      continue;
    }
    lock.lock();
    // A failed renewal keeps leadership until renew_deadline, unless another holder was seen.
    const bool leader = holds || (leader_ && holder_ == options_.identity &&
                                  steady_clock::now() - last_renewal_ < options_.renew_deadline);
    lock.unlock();
    SetLeader(leader);
    lock.lock();
    wake_.wait_for(lock, options_.retry_period, [this] { return stopping_; });
  }
  lock.unlock();
  Release();
}

// What one attempt learns of the Lease (TryAcquireOrRenew).
struct LeaseElector::Attempt {
  steady_clock::time_point start;
  std::string observed_record;
  steady_clock::time_point observed_time;
  bool lease_read = false;
  bool held_elsewhere = false;
  bool claiming = false;  // the write only claims the Lease for its preferred candidate
  bool yield = false;     // a stand-in holder found the Lease claimed
  std::string seen_holder;
};

Status LeaseElector::Judge(json& lease, Attempt& attempt) const {
  json& spec = lease["spec"];
  if (!spec.is_object()) spec = json::object();
  const steady_clock::time_point now = steady_clock::now();
  const std::string record = spec.dump();
  if (record != attempt.observed_record) {
    attempt.observed_record = record;
    attempt.observed_time = now;
  }
  attempt.lease_read = true;
  attempt.seen_holder = StringField(spec, "holderIdentity");
  const std::string& holder = attempt.seen_holder;
  const std::string claim = ClaimOf(lease);
  const std::chrono::seconds duration(IntegerField(spec, "leaseDurationSeconds"));
  if (!holder.empty() && holder != options_.identity && now < attempt.observed_time + duration) {
    attempt.held_elsewhere = true;
    if (options_.candidacy == Candidacy::kPreferred && claim != options_.identity) {
      lease["metadata"]["annotations"][kClaimAnnotation] = options_.identity;
      attempt.claiming = true;
      return OkStatus();
    }
    return FailedPreconditionError("the Lease is held by " + holder);
  }
  if (options_.candidacy == Candidacy::kStandIn && !claim.empty() && claim != options_.identity) {
    attempt.held_elsewhere = true;
    attempt.yield = holder == options_.identity;
    if (attempt.yield || now < attempt.observed_time + options_.lease_duration) {
      return FailedPreconditionError("the Lease is claimed by " + claim);
    }
  }
  if (options_.candidacy == Candidacy::kPreferred && !claim.empty()) {
    lease["metadata"]["annotations"].erase(kClaimAnnotation);
  }
  const std::string now_text = MicroTimeNow();
  if (holder != options_.identity) {
    spec["acquireTime"] = now_text;
    spec["leaseTransitions"] = IntegerField(spec, "leaseTransitions") + 1;
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = LeaseSeconds(options_.lease_duration);
  spec["renewTime"] = now_text;
  return OkStatus();
}

StatusOr<json> LeaseElector::CreateLease() {
  const std::string now_text = MicroTimeNow();
  const json lease = {
      {"apiVersion", "coordination.k8s.io/v1"},
      {"kind", "Lease"},
      {"metadata", {{"name", options_.lease_name}, {"namespace", options_.namespace_name}}},
      {"spec",
       {{"holderIdentity", options_.identity},
        {"leaseDurationSeconds", LeaseSeconds(options_.lease_duration)},
        {"acquireTime", now_text},
        {"renewTime", now_text},
        {"leaseTransitions", 0}}}};
  return client_.Create(ResourceKind::kLease, options_.namespace_name, lease);
}

bool LeaseElector::TryAcquireOrRenew() {
  Attempt attempt;
  attempt.start = steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    attempt.observed_record = observed_record_;
    attempt.observed_time = observed_time_;
  }
  // Judged on every read, including the re-reads of Update after a 409 Conflict, so a write
  // only ever replaces the very record that was judged free.
  StatusOr<json> stored =
      client_.Update(ResourceKind::kLease, options_.namespace_name, options_.lease_name,
                     [&](json& lease) { return Judge(lease, attempt); });
  bool lost_race = false;
  if (!stored.ok() && stored.status().code() == StatusCode::kNotFound && !attempt.lease_read &&
      options_.candidacy != Candidacy::kStandIn) {
    stored = CreateLease();
    lost_race = !stored.ok() && stored.status().code() == StatusCode::kAlreadyExists;
  }

  std::lock_guard<std::mutex> lock(mutex_);
  observed_record_ = attempt.observed_record;
  observed_time_ = attempt.observed_time;
  yield_ = attempt.yield;
  if (stored.ok() && attempt.claiming) {
    holder_ = attempt.seen_holder;
    last_error_ = OkStatus();
    return false;
  }
  if (stored.ok()) {
    const json spec = stored->is_object() ? stored->value("spec", json::object()) : json::object();
    observed_record_ = spec.dump();
    observed_time_ = steady_clock::now();
    holder_ = options_.identity;
    // From when the write was sent: no follower can have seen this record any earlier.
    last_renewal_ = attempt.start;
    last_error_ = OkStatus();
    return true;
  }
  if (attempt.lease_read) holder_ = attempt.seen_holder;
  // Losing to a valid holder or to a concurrent create is the guard working, not a failure.
  // A stand-in finds no Lease while the shard's own replica has not made it yet: not a failure.
  const bool not_made = options_.candidacy == Candidacy::kStandIn && !attempt.lease_read &&
                        stored.status().code() == StatusCode::kNotFound;
  last_error_ = attempt.held_elsewhere || lost_race || not_made ? OkStatus() : stored.status();
  return false;
}

void LeaseElector::SetLeader(bool leader) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (leader_ == leader) return;
    leader_ = leader;
  }
  if (on_change_) on_change_(leader);
}

void LeaseElector::Release() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!leader_) return;
  }
  // Step down first: once the release is written a follower may lead at once.
  SetLeader(false);
  auto mutate = [&](json& lease) -> Status {
    json& spec = lease["spec"];
    if (!spec.is_object() || StringField(spec, "holderIdentity") != options_.identity) {
      return FailedPreconditionError("the Lease is no longer held by " + options_.identity);
    }
    const std::string now_text = MicroTimeNow();
    spec["holderIdentity"] = "";
    spec["leaseDurationSeconds"] = 1;
    spec["acquireTime"] = now_text;
    spec["renewTime"] = now_text;
    return OkStatus();
  };
  StatusOr<json> stored =
      client_.Update(ResourceKind::kLease, options_.namespace_name, options_.lease_name, mutate);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stored.ok()) holder_.clear();
    last_error_ = stored.status();
  }
}

}  // namespace jobsync
