// Unit tests of SelectPodLogs (pod_logs.h): which pods' logs `jobsync logs` reads for a role and
// index, and the errors for no pods, an unknown role and an index out of range.
#include "backends/kubernetes/pod_logs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "test_jobs.h"

namespace jobsync {
namespace {

using ::jobsync::testing::SampleJob;
using ::testing::HasSubstr;
using json = nlohmann::json;

// A pod of `role` as the Job controller makes it: the completion index as label and annotation
// (or neither when `index` is negative), one container named after the role plus a sidecar.
json Pod(const std::string& name, const std::string& role, int index,
         const std::string& created = "2026-01-01T00:00:00Z") {
  json pod = {{"metadata",
               {{"name", name},
                {"creationTimestamp", created},
                {"labels", {{kJobLabel, "resnet"}, {kRoleLabel, role}}}}},
              {"spec",
               {{"nodeName", "node-a"},
                {"containers", json::array({{{"name", "sidecar"}}, {{"name", role}}})}}}};
  if (index >= 0) {
    pod["metadata"]["labels"][kCompletionIndexKey] = std::to_string(index);
    pod["metadata"]["annotations"][kCompletionIndexKey] = std::to_string(index);
  }
  return pod;
}

std::vector<std::string> PodNames(const std::vector<PodLogSource>& sources) {
  std::vector<std::string> names;
  for (const PodLogSource& source : sources) names.push_back(source.pod);
  return names;
}

LogQuery Query(const std::string& role, std::optional<int> index = std::nullopt) {
  LogQuery query;
  query.role = role;
  query.index = index;
  return query;
}

const std::vector<json> kPods = {
    Pod("resnet-worker-1-abc", "worker", 1), Pod("resnet-ps-0-xyz", "ps", 0),
    Pod("resnet-worker-0-def", "worker", 0), Pod("resnet-worker-2-ghi", "worker", 2)};

struct SelectCase {
  const char* name;
  LogQuery query;
  std::vector<std::string> pods;
};

class SelectPodLogsTest : public ::testing::TestWithParam<SelectCase> {};

TEST_P(SelectPodLogsTest, PicksThePodsOfTheRoleAndIndexInOrder) {
  StatusOr<std::vector<PodLogSource>> sources =
      SelectPodLogs(SampleJob("resnet", "vision", 3), kPods, GetParam().query);
  ASSERT_TRUE(sources.ok()) << sources.status().ToString();
  EXPECT_EQ(PodNames(*sources), GetParam().pods);
}

INSTANTIATE_TEST_SUITE_P(
    Queries, SelectPodLogsTest,
    ::testing::Values(SelectCase{"Everything",
                                 LogQuery{},
                                 {"resnet-ps-0-xyz", "resnet-worker-0-def", "resnet-worker-1-abc",
                                  "resnet-worker-2-ghi"}},
                      SelectCase{
                          "OneRole",
                          Query("worker"),
                          {"resnet-worker-0-def", "resnet-worker-1-abc", "resnet-worker-2-ghi"}},
                      SelectCase{"OneReplica", Query("worker", 2), {"resnet-worker-2-ghi"}},
                      SelectCase{"IndexZeroOfTheOtherRole", Query("ps", 0), {"resnet-ps-0-xyz"}}),
    [](const ::testing::TestParamInfo<SelectCase>& test) { return test.param.name; });

TEST(SelectPodLogsTest, ReadsTheContainerNamedAfterTheRole) {
  StatusOr<std::vector<PodLogSource>> sources =
      SelectPodLogs(SampleJob("resnet", "vision", 3), kPods, Query("worker", 1));
  ASSERT_TRUE(sources.ok()) << sources.status().ToString();
  ASSERT_EQ(sources->size(), 1u);
  EXPECT_EQ((*sources)[0], (PodLogSource{"resnet-worker-1-abc", "worker", "worker", 1}));
  EXPECT_EQ(PodLogPrefix((*sources)[0]), "[pod/resnet-worker-1-abc/worker] ");
}

TEST(SelectPodLogsTest, TheNewestPodOfAnIndexIsRead) {
  const std::vector<json> pods = {Pod("resnet-worker-0-new", "worker", 0, "2026-01-02T00:00:00Z"),
                                  Pod("resnet-worker-0-old", "worker", 0, "2026-01-01T00:00:00Z")};
  StatusOr<std::vector<PodLogSource>> sources =
      SelectPodLogs(SampleJob("resnet", "vision", 1), pods, Query("worker"));
  ASSERT_TRUE(sources.ok()) << sources.status().ToString();
  EXPECT_EQ(PodNames(*sources), std::vector<std::string>{"resnet-worker-0-new"});
}

TEST(SelectPodLogsTest, IndexFromTheAnnotationOrDlroverLabelAndByNameWithout) {
  json annotated = Pod("a-annotated", "worker", -1);
  annotated["metadata"]["annotations"][kCompletionIndexKey] = "1";
  json dlrover = Pod("b-dlrover", "worker", -1);
  dlrover["metadata"]["labels"].erase(kRoleLabel);
  dlrover["metadata"]["labels"][kDlroverReplicaTypeLabel] = "worker";
  dlrover["metadata"]["labels"][kDlroverReplicaIndexLabel] = "2";
  // A KubeRay worker: no index anywhere; it takes the first free one (0).
  json unindexed = Pod("c-ray-worker", "worker", -1);
  for (const auto& [index, name] : std::vector<std::pair<int, std::string>>{
           {0, "c-ray-worker"}, {1, "a-annotated"}, {2, "b-dlrover"}}) {
    StatusOr<std::vector<PodLogSource>> sources = SelectPodLogs(
        SampleJob("resnet", "vision", 3), {annotated, dlrover, unindexed}, Query("worker", index));
    ASSERT_TRUE(sources.ok()) << sources.status().ToString();
    EXPECT_EQ(PodNames(*sources), std::vector<std::string>{name}) << "index " << index;
  }
}

TEST(SelectPodLogsTest, PodsOnNoNodeAreNotReadAndSaidToWait) {
  json waiting = Pod("resnet-worker-1-wait", "worker", 1);
  waiting["spec"].erase("nodeName");
  StatusOr<std::vector<PodLogSource>> sources = SelectPodLogs(
      SampleJob("resnet", "vision", 2), {Pod("resnet-worker-0", "worker", 0), waiting}, LogQuery{});
  ASSERT_TRUE(sources.ok()) << sources.status().ToString();
  EXPECT_EQ(PodNames(*sources), std::vector<std::string>{"resnet-worker-0"});
  sources = SelectPodLogs(SampleJob("resnet", "vision", 2), {waiting}, LogQuery{});
  ASSERT_FALSE(sources.ok());
  EXPECT_EQ(sources.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(sources.status().message(),
            "job kubernetes/vision/resnet has no pods on a node (1 pod waits to be scheduled); "
            "try again");
}

TEST(SelectPodLogsTest, IndexAloneIsTheOnlyRolesIndex) {
  TrainingJob job = SampleJob("resnet", "vision", 3);
  job.roles.erase("ps");
  const std::vector<json> workers = {Pod("resnet-worker-0-def", "worker", 0),
                                     Pod("resnet-worker-1-abc", "worker", 1)};
  StatusOr<std::vector<PodLogSource>> sources = SelectPodLogs(job, workers, Query("", 1));
  ASSERT_TRUE(sources.ok()) << sources.status().ToString();
  EXPECT_EQ(PodNames(*sources), std::vector<std::string>{"resnet-worker-1-abc"});
}

struct ErrorCase {
  const char* name;
  std::vector<json> pods;
  LogQuery query;
  StatusCode code;
  std::string message;
};

class SelectPodLogsErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(SelectPodLogsErrorTest, SaysWhatIsWrongAndWhatThereIs) {
  StatusOr<std::vector<PodLogSource>> sources =
      SelectPodLogs(SampleJob("resnet", "vision", 3), GetParam().pods, GetParam().query);
  ASSERT_FALSE(sources.ok());
  EXPECT_EQ(sources.status().code(), GetParam().code);
  EXPECT_EQ(sources.status().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Errors, SelectPodLogsErrorTest,
    ::testing::Values(
        ErrorCase{"NoPods",
                  {},
                  LogQuery{},
                  StatusCode::kFailedPrecondition,
                  "job kubernetes/vision/resnet has no pods yet"},
        ErrorCase{"NoPodsOfTheRole",
                  {Pod("resnet-worker-0", "worker", 0)},
                  Query("ps"),
                  StatusCode::kFailedPrecondition,
                  "job kubernetes/vision/resnet has no pods yet, of role ps"},
        ErrorCase{"UnknownRole", kPods, Query("wroker"), StatusCode::kInvalidArgument,
                  "job kubernetes/vision/resnet has no role \"wroker\"; its roles: ps, worker"},
        ErrorCase{"IndexOutOfRange", kPods, Query("worker", 3), StatusCode::kInvalidArgument,
                  "--index 3 is out of range: role worker of job kubernetes/vision/resnet has "
                  "indexes 0 to 2"},
        ErrorCase{"IndexWithoutRoleOfAJobOfTwoRoles", kPods, Query("", 0),
                  StatusCode::kInvalidArgument,
                  "--index needs --role: job kubernetes/vision/resnet has the roles ps, worker"},
        ErrorCase{"InRangeButNotStartedYet",
                  {Pod("resnet-worker-0", "worker", 0)},
                  Query("worker", 2),
                  StatusCode::kFailedPrecondition,
                  "job kubernetes/vision/resnet has no pods yet, for worker index 2"}),
    [](const ::testing::TestParamInfo<ErrorCase>& test) { return test.param.name; });

}  // namespace
}  // namespace jobsync
