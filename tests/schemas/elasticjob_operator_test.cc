// DLRover ElasticJobs in operator mode (issue #21): the mode chosen per load (--elasticjob) and per
// manifest (jobsync.dev/elasticjob-mode), the ElasticJob's own spec carried into the model and
// its canonical form, no warnings for the fields DLRover's operator honours, and the planner's
// rules for a change of that spec.
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schemas/canonical.h"
#include "schemas/elasticjob.h"
#include "schemas/loader.h"

namespace jobsync {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr const char* kJob = R"(apiVersion: elastic.iml.github.io/v1alpha1
kind: ElasticJob
metadata:
  name: ctr
  namespace: ads
spec:
  distributionStrategy: ParameterServerStrategy
  brainService: brain.dlrover:50001
  suspend: true
  replicaSpecs:
    ps:
      replicas: 1
      template:
        spec:
          containers:
            - name: main
              image: ps:1
              imagePullPolicy: Always
    worker:
      replicas: 4
      autoScale: true
      template:
        spec:
          containers:
            - name: main
              image: worker:1
    dlrover-master:
      template:
        spec:
          containers:
            - name: main
              image: master:1
)";

class ElasticJobOperatorTest : public ::testing::Test {
 protected:
  ManifestFile Parse(const std::string& text, ElasticJobMode mode) {
    return ParseManifestFile("jobs/ej.yaml", text, validator_, {YamlLimits{}, mode});
  }

  static std::string Report(const std::vector<Diagnostic>& diagnostics) {
    std::string out;
    for (const Diagnostic& d : diagnostics) out += d.ToString() + "\n";
    return out;
  }

  // `kJob` with the mode annotation set to `value`.
  static std::string Annotated(const std::string& value) {
    std::string text = kJob;
    text.replace(text.find("  namespace: ads\n"), 16,
                 "  namespace: ads\n  annotations: {jobsync.dev/elasticjob-mode: " + value + "}");
    return text;
  }

  SchemaValidator validator_;
};

TEST_F(ElasticJobOperatorTest, OperatorModeCarriesTheElasticJobsOwnSpec) {
  ManifestFile file = Parse(kJob, ElasticJobMode::kOperator);
  ASSERT_THAT(Report(file.diagnostics), IsEmpty());
  ASSERT_THAT(file.jobs, SizeIs(1));
  const TrainingJob& job = *file.jobs[0].job;
  EXPECT_EQ(job.key().ToString(), "kubernetes/ads/ctr");
  EXPECT_EQ(job.workload, KubernetesWorkload::kElasticJob);
  // Roles and suspend as native mode reads them: the planner's scale and suspend.
  EXPECT_EQ(job.roles.at("worker").replicas, 4);
  EXPECT_EQ(job.roles.at("ps").replicas, 1);
  EXPECT_TRUE(job.suspend);
  // The spec as written, without what roles and suspend carry; the job master's type kept.
  const json& spec = job.elastic_job_spec;
  EXPECT_EQ(spec["brainService"], "brain.dlrover:50001");
  EXPECT_EQ(spec["replicaSpecs"]["worker"]["autoScale"], true);
  EXPECT_FALSE(spec["replicaSpecs"]["worker"].contains("replicas"));
  EXPECT_FALSE(spec.contains("suspend"));
  EXPECT_EQ(spec["replicaSpecs"]["dlrover-master"]["template"]["spec"]["containers"][0]["image"],
            "master:1");
  // DLRover's operator honours what native mode would warn of.
  EXPECT_EQ(Report(file.warnings), "");
  // The canonical form round-trips, as the backend reads back the applied spec.
  StatusOr<TrainingJob> back = TrainingJobFromCanonical(CanonicalSpec(job));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->SameSpecAs(job));
  EXPECT_EQ(CanonicalSpec(job)["spec"]["kubernetes"]["workload"], "elasticjob");
}

TEST_F(ElasticJobOperatorTest, NativeModeByDefaultWithItsWarnings) {
  ManifestFile file = Parse(kJob, ElasticJobMode::kNative);
  ASSERT_THAT(Report(file.diagnostics), IsEmpty());
  const TrainingJob& job = *file.jobs.at(0).job;
  EXPECT_EQ(job.workload, KubernetesWorkload::kJob);
  EXPECT_TRUE(job.elastic_job_spec.is_null());
  EXPECT_THAT(Report(file.warnings),
              HasSubstr("jobs/ej.yaml:8:3: warning: ElasticJob spec.brainService"));
}

TEST_F(ElasticJobOperatorTest, AnnotationOverridesTheInstancesMode) {
  ManifestFile op = Parse(Annotated("operator"), ElasticJobMode::kNative);
  ASSERT_THAT(Report(op.diagnostics), IsEmpty());
  EXPECT_EQ(op.jobs.at(0).job->workload, KubernetesWorkload::kElasticJob);
  ManifestFile native = Parse(Annotated("native"), ElasticJobMode::kOperator);
  ASSERT_THAT(Report(native.diagnostics), IsEmpty());
  EXPECT_EQ(native.jobs.at(0).job->workload, KubernetesWorkload::kJob);
}

TEST_F(ElasticJobOperatorTest, UnknownModeIsALocatedErrorAndTheJobInvalid) {
  ManifestFile file = Parse(Annotated("operater"), ElasticJobMode::kNative);
  EXPECT_THAT(file.jobs, IsEmpty());
  ASSERT_THAT(file.invalid, SizeIs(1));
  EXPECT_THAT(Report(file.diagnostics),
              HasSubstr("jobs/ej.yaml:6:46: metadata.annotations['jobsync.dev/elasticjob-mode']: "
                        "must be native or operator"));
}

TEST_F(ElasticJobOperatorTest, ModeAnnotationOnATrainingJobIsWarnedOf) {
  const std::string text = R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata:
  name: t
  annotations: {jobsync.dev/elasticjob-mode: operator}
spec:
  backend: kubernetes
  image: busybox
  roles: {worker: {replicas: 1}}
)";
  ManifestFile file = Parse(text, ElasticJobMode::kNative);
  ASSERT_THAT(Report(file.diagnostics), IsEmpty());
  EXPECT_EQ(Report(file.warnings),
            "jobs/ej.yaml:5:46: warning: jobsync.dev/elasticjob-mode chooses how an ElasticJob "
            "runs; this document is not one, so it is ignored (hint: remove the annotation)\n");
}

TEST_F(ElasticJobOperatorTest, ReplicaChangeChangesOnlyTheRoles) {
  const TrainingJob before = *Parse(kJob, ElasticJobMode::kOperator).jobs.at(0).job;
  std::string scaled = kJob;
  scaled.replace(scaled.find("replicas: 4"), 11, "replicas: 6");
  const TrainingJob after = *Parse(scaled, ElasticJobMode::kOperator).jobs.at(0).job;
  // The ElasticJob's spec copy has no replicas: a scale is a role change only (a ScalePlan).
  EXPECT_EQ(before.elastic_job_spec, after.elastic_job_spec);
  EXPECT_EQ(after.roles.at("worker").replicas, 6);
}

TEST_F(ElasticJobOperatorTest, ModeNamesParse) {
  EXPECT_EQ(ParseElasticJobMode("native"), ElasticJobMode::kNative);
  EXPECT_EQ(ParseElasticJobMode("operator"), ElasticJobMode::kOperator);
  EXPECT_EQ(ParseElasticJobMode("Operator"), std::nullopt);
  EXPECT_STREQ(ElasticJobModeName(ElasticJobMode::kOperator), "operator");
}

}  // namespace
}  // namespace jobsync
