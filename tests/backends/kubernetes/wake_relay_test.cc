// LeaseWakeRelay against the real local kube-apiserver of scripts/cluster: two replicas, each with
// a LeaseElector and a LeaseWakeRelay as `jobsync run --leader-elect` wires them; a webhook
// accepted by the standby must wake the leader within a second. Needs `scripts/cluster up && eval
// "$(scripts/cluster env)"`; fails, never skips, when the cluster cannot be reached.
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "backends/kubernetes/lease_election.h"
#include "backends/kubernetes/lease_wake_relay.h"
#include "kube_test_util.h"

namespace jobsync {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr const char* kNamespace = "default";

// One agent replica: an elector and a relay whose wakes count only while this replica leads.
struct Replica {
  std::unique_ptr<LeaderElector> elector;
  std::unique_ptr<WakeRelay> relay;
  std::mutex mutex;
  std::vector<steady_clock::time_point> wakes;  // while leader

  size_t WakeCount() {
    std::lock_guard<std::mutex> lock(mutex);
    return wakes.size();
  }
};

class WakeRelayKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KubernetesClientOptions options;
    options.request_timeout = seconds(5);
    ASSERT_TRUE(testing::ConnectTestCluster(options, kNamespace, &client_));
    lease_name_ = "jobsync-test-wake-" + std::to_string(getpid());
  }
  void TearDown() override {
    for (auto& replica : replicas_) {
      if (replica->relay) replica->relay->Stop();
      if (replica->elector) replica->elector->Stop();
    }
    if (client_ != nullptr) {
      (void)client_->Delete(ResourceKind::kLease, kNamespace, lease_name_,
                            Propagation::kBackground);
    }
  }

  Replica& StartReplica(const std::string& identity) {
    replicas_.push_back(std::make_unique<Replica>());
    Replica& replica = *replicas_.back();
    LeaderElectionOptions election;
    election.namespace_name = kNamespace;
    election.lease_name = lease_name_;
    election.identity = identity;
    election.lease_duration = seconds(4);
    election.renew_deadline = milliseconds(2600);
    election.retry_period = milliseconds(570);
    replica.elector = std::make_unique<LeaseElector>(*client_, election, nullptr);
    replica.relay = std::make_unique<LeaseWakeRelay>(
        *client_, kNamespace, lease_name_, identity, [&replica](const std::string&) {
          if (!replica.elector->is_leader()) return;
          std::lock_guard<std::mutex> lock(replica.mutex);
          replica.wakes.push_back(steady_clock::now());
        });
    EXPECT_TRUE(replica.elector->Start().ok());
    EXPECT_TRUE(replica.relay->Start().ok());
    return replica;
  }

  std::unique_ptr<KubernetesClient> client_;
  std::string lease_name_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

TEST_F(WakeRelayKubeTest, AStandbyWakesTheLeaderWithinASecond) {
  Replica& a = StartReplica("a");
  Replica& b = StartReplica("b");
  const auto deadline = steady_clock::now() + seconds(20);
  while (a.elector->is_leader() == b.elector->is_leader() && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_NE(a.elector->is_leader(), b.elector->is_leader()) << "no single leader was elected";
  Replica& leader = a.elector->is_leader() ? a : b;
  Replica& standby = a.elector->is_leader() ? b : a;
  const std::string leader_identity = leader.elector->holder();

  for (int round = 1; round <= 3; ++round) {
    const auto sent = steady_clock::now();
    Status woken = standby.relay->RequestWake();
    ASSERT_TRUE(woken.ok()) << woken.ToString();
    while (leader.WakeCount() < static_cast<size_t>(round) &&
           steady_clock::now() < sent + seconds(5)) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_EQ(leader.WakeCount(), static_cast<size_t>(round)) << "round " << round;
    steady_clock::time_point woken_at;
    {
      std::lock_guard<std::mutex> lock(leader.mutex);
      woken_at = leader.wakes.back();
    }
    const auto latency = std::chrono::duration_cast<milliseconds>(woken_at - sent).count();
    std::printf("round %d: standby request to leader wake in %lld ms\n", round,
                static_cast<long long>(latency));
    EXPECT_LT(latency, 1000);
  }
  // The standby never acts on its own wakes, and recording them did not move the leadership.
  EXPECT_EQ(standby.WakeCount(), 0u);
  EXPECT_TRUE(leader.elector->is_leader());
  EXPECT_EQ(leader.elector->holder(), leader_identity);
}

TEST_F(WakeRelayKubeTest, RequestingAWakeBeforeAnyLeaseExistsFails) {
  LeaseWakeRelay relay(*client_, kNamespace, lease_name_ + "-none", "x", nullptr);
  Status woken = relay.RequestWake();
  EXPECT_EQ(woken.code(), StatusCode::kNotFound) << woken.ToString();
}

}  // namespace
}  // namespace jobsync
