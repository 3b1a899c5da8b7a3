// LeaseElector (the LeaderElector of backends/leader_election.h over a Lease) against the real
// local kube-apiserver of scripts/cluster. Needs `scripts/cluster up && eval "$(scripts/cluster
// env)"`; fails, never skips, when the cluster cannot be reached. Each test uses its own Lease in
// namespace default, deleted after.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "backends/kubernetes/kubeconfig.h"
#include "backends/kubernetes/kubernetes_backend.h"
#include "backends/kubernetes/lease_election.h"
#include "kube_test_util.h"

namespace jobsync {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using ::testing::MatchesRegex;

constexpr const char* kNamespace = "default";

// Polls `condition` every 20 ms for up to `timeout`.
bool Eventually(const std::function<bool()>& condition, milliseconds timeout = seconds(30)) {
  const auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return condition();
}

// The leadership changes one elector reported, in order.
class ChangeLog {
 public:
  std::function<void(bool)> Callback() {
    return [this](bool leader) {
      std::lock_guard<std::mutex> lock(mutex_);
      changes_.push_back(leader);
    };
  }
  std::vector<bool> changes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return changes_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<bool> changes_;
};

class LeaderElectionKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KubernetesClientOptions options;
    options.request_timeout = seconds(5);
    ASSERT_TRUE(testing::ConnectTestCluster(options, kNamespace, &client_));
    static std::atomic<int> counter{0};
    lease_name_ =
        "jobsync-test-lease-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
  }

  void TearDown() override {
    if (client_ == nullptr) return;
    Status deleted =
        client_->Delete(ResourceKind::kLease, kNamespace, lease_name_, Propagation::kBackground);
    EXPECT_TRUE(deleted.ok()) << deleted.ToString();
  }

  // Short durations, so that tests run in seconds.
  LeaderElectionOptions Options(const std::string& identity) const {
    LeaderElectionOptions options;
    options.namespace_name = kNamespace;
    options.lease_name = lease_name_;
    options.identity = identity;
    options.lease_duration = seconds(2);
    options.renew_deadline = milliseconds(1500);
    options.retry_period = milliseconds(200);
    return options;
  }

  std::unique_ptr<LeaderElector> Elector(const LeaderElectionOptions& options,
                                         std::function<void(bool)> on_change = nullptr) {
    return std::make_unique<LeaseElector>(*client_, options, std::move(on_change));
  }

  json LeaseSpec() {
    StatusOr<json> lease = client_->Get(ResourceKind::kLease, kNamespace, lease_name_);
    EXPECT_TRUE(lease.ok()) << lease.status().ToString();
    return lease.ok() ? lease->value("spec", json::object()) : json::object();
  }

  // Writes the Lease as a holder that then died would have left it.
  void WriteDeadHolderLease(const std::string& renew_time) {
    const json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                        {"kind", "Lease"},
                        {"metadata", {{"name", lease_name_}, {"namespace", kNamespace}}},
                        {"spec",
                         {{"holderIdentity", "dead"},
                          {"leaseDurationSeconds", 2},
                          {"acquireTime", renew_time},
                          {"renewTime", renew_time},
                          {"leaseTransitions", 3}}}};
    StatusOr<json> created = client_->Create(ResourceKind::kLease, kNamespace, lease);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
  }

  // Starts a candidate after the dead holder's Lease was written and checks that it waits out
  // the lease duration on its own clock, then takes over.
  void ExpectTakeoverAfterObservedExpiry() {
    ChangeLog log;
    std::unique_ptr<LeaderElector> candidate = Elector(Options("candidate"), log.Callback());
    const auto started = steady_clock::now();
    ASSERT_TRUE(candidate->Start().ok());
    // The candidate reads the Lease after `started`, so it may not lead before started + 2s.
    while (steady_clock::now() < started + milliseconds(1900)) {
      ASSERT_FALSE(candidate->is_leader()) << "took over a live lease";
      std::this_thread::sleep_for(milliseconds(10));
    }
    EXPECT_EQ(candidate->holder(), "dead");
    EXPECT_TRUE(candidate->last_error().ok()) << candidate->last_error().ToString();
    ASSERT_TRUE(Eventually([&] { return candidate->is_leader(); }))
        << "never took over; last error: " << candidate->last_error().ToString();
    EXPECT_EQ(candidate->holder(), "candidate");
    const json spec = LeaseSpec();
    EXPECT_EQ(spec.value("holderIdentity", ""), "candidate");
    EXPECT_EQ(spec.value("leaseTransitions", 0), 4);
    EXPECT_EQ(log.changes(), std::vector<bool>{true});
  }

  std::unique_ptr<KubernetesClient> client_;
  std::string lease_name_;
};

TEST_F(LeaderElectionKubeTest, OneLeadsTheOtherFollows) {
  ChangeLog first_log;
  ChangeLog second_log;
  std::unique_ptr<LeaderElector> first = Elector(Options("first"), first_log.Callback());
  ASSERT_TRUE(first->Start().ok());
  ASSERT_TRUE(Eventually([&] { return first->is_leader(); }))
      << "last error: " << first->last_error().ToString();

  std::unique_ptr<LeaderElector> second = Elector(Options("second"), second_log.Callback());
  ASSERT_TRUE(second->Start().ok());
  ASSERT_TRUE(Eventually([&] { return second->holder() == "first"; }));
  // Several retry periods and more than a lease duration: the leader keeps renewing.
  const auto until = steady_clock::now() + seconds(3);
  while (steady_clock::now() < until) {
    ASSERT_TRUE(first->is_leader());
    ASSERT_FALSE(second->is_leader());
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(first->last_error().ok()) << first->last_error().ToString();
  EXPECT_TRUE(second->last_error().ok()) << second->last_error().ToString();
  EXPECT_EQ(first->holder(), "first");

  const json spec = LeaseSpec();
  EXPECT_EQ(spec.value("holderIdentity", ""), "first");
  EXPECT_EQ(spec.value("leaseDurationSeconds", 0), 2);
  EXPECT_EQ(spec.value("leaseTransitions", -1), 0);
  const std::string micro_time =
      "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z";
  EXPECT_THAT(spec.value("renewTime", ""), MatchesRegex(micro_time));
  EXPECT_THAT(spec.value("acquireTime", ""), MatchesRegex(micro_time));
  EXPECT_EQ(first_log.changes(), std::vector<bool>{true});
  EXPECT_TRUE(second_log.changes().empty());
}

TEST_F(LeaderElectionKubeTest, ReleaseHandsOverWithoutWaitingOutTheLease) {
  // A long lease, so that a handover by expiry could not pass for one by release.
  LeaderElectionOptions first_options = Options("first");
  LeaderElectionOptions second_options = Options("second");
  for (LeaderElectionOptions* options : {&first_options, &second_options}) {
    options->lease_duration = seconds(30);
    options->renew_deadline = seconds(20);
  }
  ChangeLog first_log;
  std::unique_ptr<LeaderElector> first = Elector(first_options, first_log.Callback());
  ASSERT_TRUE(first->Start().ok());
  ASSERT_TRUE(Eventually([&] { return first->is_leader(); }));
  std::unique_ptr<LeaderElector> second = Elector(second_options);
  ASSERT_TRUE(second->Start().ok());
  ASSERT_TRUE(Eventually([&] { return second->holder() == "first"; }));

  const auto stopped = steady_clock::now();
  first->Stop();
  EXPECT_FALSE(first->is_leader());
  EXPECT_EQ(first_log.changes(), (std::vector<bool>{true, false}));
  ASSERT_TRUE(Eventually([&] { return second->is_leader(); }, seconds(10)))
      << "last error: " << second->last_error().ToString();
  EXPECT_LT(steady_clock::now() - stopped, seconds(10));
  const json spec = LeaseSpec();
  EXPECT_EQ(spec.value("holderIdentity", ""), "second");
  EXPECT_EQ(spec.value("leaseDurationSeconds", 0), 30);
  EXPECT_EQ(spec.value("leaseTransitions", -1), 1);
  first->Stop();  // idempotent
}

TEST_F(LeaderElectionKubeTest, TakesOverFromADeadHolderOnlyAfterTheLeaseExpires) {
  // renewTime now, as a holder that died right after renewing leaves it.
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds_now = std::chrono::system_clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds_now, &utc);
  char renew_time[40];
  std::strftime(renew_time, sizeof(renew_time), "%Y-%m-%dT%H:%M:%S.000000Z", &utc);
  ASSERT_NO_FATAL_FAILURE(WriteDeadHolderLease(renew_time));
  ExpectTakeoverAfterObservedExpiry();
}

TEST_F(LeaderElectionKubeTest, JudgesExpiryOnItsOwnClockNotTheServerTimestamps) {
  // renewTime long past: a candidate trusting timestamps would take over at once.
  ASSERT_NO_FATAL_FAILURE(WriteDeadHolderLease("2001-01-01T00:00:00.000000Z"));
  ExpectTakeoverAfterObservedExpiry();
}

TEST_F(LeaderElectionKubeTest, RacingCandidatesNeverLeadTogether) {
  std::vector<std::unique_ptr<LeaderElector>> candidates;
  for (const char* identity : {"a", "b", "c"}) candidates.push_back(Elector(Options(identity)));
  for (auto& candidate : candidates) ASSERT_TRUE(candidate->Start().ok());

  // Samples who leads until `until`; returns the most leaders seen at once.
  auto sample = [&](steady_clock::time_point until, int& samples_with_leader) {
    int most = 0;
    while (steady_clock::now() < until) {
      int leaders = 0;
      for (auto& candidate : candidates) leaders += candidate && candidate->is_leader() ? 1 : 0;
      most = std::max(most, leaders);
      samples_with_leader += leaders > 0 ? 1 : 0;
      std::this_thread::sleep_for(milliseconds(2));
    }
    return most;
  };
  int with_leader = 0;
  EXPECT_LE(sample(steady_clock::now() + seconds(3), with_leader), 1);
  EXPECT_GT(with_leader, 0) << "nobody led";

  // Hand over twice, by release, while sampling.
  for (int round = 0; round < 2; ++round) {
    std::unique_ptr<LeaderElector>* leader = nullptr;
    for (auto& candidate : candidates) {
      if (candidate && candidate->is_leader()) leader = &candidate;
    }
    ASSERT_NE(leader, nullptr) << "round " << round;
    const std::string old_holder = (*leader)->holder();
    std::thread stopper([leader] { leader->get()->Stop(); });
    const int most = sample(steady_clock::now() + seconds(3), with_leader);
    stopper.join();
    leader->reset();
    EXPECT_LE(most, 1) << "round " << round;
    int leaders = 0;
    for (auto& candidate : candidates) {
      if (candidate == nullptr) continue;
      leaders += candidate->is_leader() ? 1 : 0;
      EXPECT_NE(candidate->holder(), old_holder) << "round " << round;
    }
    EXPECT_EQ(leaders, 1) << "nobody took over in round " << round;
  }
}

TEST_F(LeaderElectionKubeTest, RejectsBadOptions) {
  const struct {
    const char* what;
    std::function<void(LeaderElectionOptions&)> change;
  } cases[] = {
      {"no lease name", [](LeaderElectionOptions& o) { o.lease_name.clear(); }},
      {"no identity", [](LeaderElectionOptions& o) { o.identity.clear(); }},
      {"no namespace", [](LeaderElectionOptions& o) { o.namespace_name.clear(); }},
      {"deadline past lease", [](LeaderElectionOptions& o) { o.renew_deadline = seconds(2); }},
      {"retry past deadline",
       [](LeaderElectionOptions& o) { o.retry_period = milliseconds(1500); }},
  };
  for (const auto& bad : cases) {
    LeaderElectionOptions options = Options("x");
    bad.change(options);
    Status started = Elector(options)->Start();
    EXPECT_EQ(started.code(), StatusCode::kInvalidArgument) << bad.what;
  }
}

// --- shards: a preferred candidate and stand-ins (agent/cli/shard_units.h) -------------------

LeaderElectionOptions WithCandidacy(LeaderElectionOptions options, Candidacy candidacy) {
  options.candidacy = candidacy;
  return options;
}

TEST_F(LeaderElectionKubeTest, AStandInNeverCreatesTheLease) {
  auto stand_in = Elector(WithCandidacy(Options("stand-in"), Candidacy::kStandIn));
  ASSERT_TRUE(stand_in->Start().ok());
  std::this_thread::sleep_for(milliseconds(800));
  EXPECT_FALSE(stand_in->is_leader());
  EXPECT_TRUE(stand_in->last_error().ok()) << stand_in->last_error().ToString();
  EXPECT_EQ(client_->Get(ResourceKind::kLease, kNamespace, lease_name_).status().code(),
            StatusCode::kNotFound);
  stand_in->Stop();
  // The preferred candidate makes it (TearDown deletes it).
  auto preferred = Elector(WithCandidacy(Options("preferred"), Candidacy::kPreferred));
  ASSERT_TRUE(preferred->Start().ok());
  EXPECT_TRUE(Eventually([&] { return preferred->is_leader(); }, seconds(5)));
}

TEST_F(LeaderElectionKubeTest, AStandInHandsTheLeaseBackWhenThePreferredOneClaimsIt) {
  // The shard's own replica made the Lease and went away; a stand-in took over.
  auto first = Elector(WithCandidacy(Options("preferred"), Candidacy::kPreferred));
  ASSERT_TRUE(first->Start().ok());
  ASSERT_TRUE(Eventually([&] { return first->is_leader(); }, seconds(5)));
  first->Stop();
  ChangeLog stand_in_log;
  auto stand_in =
      Elector(WithCandidacy(Options("stand-in"), Candidacy::kStandIn), stand_in_log.Callback());
  ASSERT_TRUE(stand_in->Start().ok());
  ASSERT_TRUE(Eventually([&] { return stand_in->is_leader(); }, seconds(5)));

  // It comes back: claims, and the stand-in steps down; never both at once.
  auto back = Elector(WithCandidacy(Options("preferred"), Candidacy::kPreferred));
  ASSERT_TRUE(back->Start().ok());
  bool both = false;
  const bool handed = Eventually(
      [&] {
        both = both || (back->is_leader() && stand_in->is_leader());
        return back->is_leader();
      },
      seconds(5));
  EXPECT_TRUE(handed);
  EXPECT_FALSE(both);
  EXPECT_FALSE(stand_in->is_leader());
  EXPECT_EQ(stand_in_log.changes(), (std::vector<bool>{true, false}));
  EXPECT_EQ(LeaseSpec().value("holderIdentity", ""), "preferred");
  // The claim is gone once the preferred candidate holds the Lease.
  StatusOr<json> lease = client_->Get(ResourceKind::kLease, kNamespace, lease_name_);
  ASSERT_TRUE(lease.ok());
  EXPECT_FALSE(lease->value("metadata", json::object())
                   .value("annotations", json::object())
                   .contains(kClaimAnnotation));
  // And the stand-in stays a follower while it renews.
  std::this_thread::sleep_for(seconds(3));
  EXPECT_TRUE(back->is_leader());
  EXPECT_FALSE(stand_in->is_leader());
}

TEST_F(LeaderElectionKubeTest, AStandInTakesAClaimedLeaseBackWhenTheClaimantIsGone) {
  ChangeLog log;
  auto stand_in = Elector(WithCandidacy(Options("stand-in"), Candidacy::kStandIn), log.Callback());
  WriteDeadHolderLease(MicroTimeNow());
  ASSERT_TRUE(stand_in->Start().ok());
  ASSERT_TRUE(Eventually([&] { return stand_in->is_leader(); }, seconds(6)));
  // A claimant writes its claim and dies before acquiring.
  StatusOr<json> claimed =
      client_->Update(ResourceKind::kLease, kNamespace, lease_name_, [](json& lease) {
        lease["metadata"]["annotations"][kClaimAnnotation] = "gone";
        return OkStatus();
      });
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  // Steps down, then writes the release.
  ASSERT_TRUE(Eventually([&] { return LeaseSpec().value("holderIdentity", "?").empty(); },
                         seconds(3)));
  const auto released = steady_clock::now();
  EXPECT_FALSE(stand_in->is_leader());
  // Not before the claim had lease_duration (2 s) to be honoured.
  ASSERT_TRUE(Eventually([&] { return stand_in->is_leader(); }, seconds(6)));
  EXPECT_GE(steady_clock::now() - released, milliseconds(1800));
  EXPECT_EQ(log.changes(), (std::vector<bool>{true, false, true}));
}

}  // namespace
}  // namespace jobsync
