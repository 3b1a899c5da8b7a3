// What `jobsync run` answers a webhook under leader election (RelayToLeader), with fakes of the
// election and the wake relay (backends/leader_election.h, backends/wake_relay.h). The Lease
// implementations are tested against the real apiserver in tests/backends/kubernetes/.
#include <string>
#include <utility>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/cli/run_command.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;

class FakeElector : public LeaderElector {
 public:
  explicit FakeElector(bool leader) : leader_(leader) {}
  // LeaderElector
  Status Start() override { return OkStatus(); }
  void Stop() override {}
  bool is_leader() const override { return leader_; }
  std::string holder() const override { return leader_ ? "me" : "other"; }
  Status last_error() const override { return OkStatus(); }

 private:
  const bool leader_;
};

class FakeRelay : public WakeRelay {
 public:
  explicit FakeRelay(Status answer) : answer_(std::move(answer)) {}
  // WakeRelay
  Status Start() override { return OkStatus(); }
  void Stop() override {}
  Status RequestWake() override {
    ++requests;
    return answer_;
  }
  int requests = 0;

 private:
  const Status answer_;
};

WebhookResult Accepted() {
  WebhookResult result;
  result.message = "push to refs/heads/main";
  result.trigger = true;
  return result;
}

TEST(RelayToLeaderTest, TheLeaderAnswersAsItIsAndWakesNobody) {
  FakeElector leader(true);
  FakeRelay relay(OkStatus());
  WebhookResult result = RelayToLeader(Accepted(), leader, relay);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.message, "push to refs/heads/main");
  EXPECT_EQ(relay.requests, 0);
}

TEST(RelayToLeaderTest, AStandbyWakesTheLeaderAndSaysSo) {
  FakeElector standby(false);
  FakeRelay relay(OkStatus());
  WebhookResult result = RelayToLeader(Accepted(), standby, relay);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.message,
            "push to refs/heads/main; this replica is a standby: the leader was woken");
  EXPECT_EQ(relay.requests, 1);
}

TEST(RelayToLeaderTest, AStandbyThatCannotWakeTheLeaderAsksForRedelivery) {
  FakeElector standby(false);
  FakeRelay relay(NotFoundError("leases.coordination.k8s.io \"jobsync-a\" not found"));
  WebhookResult result = RelayToLeader(Accepted(), standby, relay);
  EXPECT_EQ(result.http_status, 503);
  EXPECT_THAT(result.message, HasSubstr("could not wake the leader: leases.coordination"));
  EXPECT_THAT(result.message, HasSubstr("redeliver the webhook"));
  EXPECT_EQ(relay.requests, 1);
}

TEST(RelayToLeaderTest, AWebhookThatAsksForNothingWakesNobody) {
  FakeElector standby(false);
  FakeRelay relay(OkStatus());
  WebhookResult ignored;
  ignored.http_status = 202;
  ignored.message = "push to another branch";
  WebhookResult result = RelayToLeader(ignored, standby, relay);
  EXPECT_EQ(result.http_status, 202);
  EXPECT_EQ(result.message, "push to another branch");
  EXPECT_EQ(relay.requests, 0);
}

}  // namespace
}  // namespace jobsync
