// Ray jobs as KubeRay RayJobs (issue #22): spec.ray.cluster, ray.image and ray.head read into the
// model and its canonical form, the identity of a RayJob (a Kubernetes object), and the checks
// that differ from a shared Ray cluster's.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schemas/canonical.h"
#include "schemas/loader.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr const char* kKubeRay = R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: tune, namespace: search}
spec:
  backend: ray
  volumes:
    - {name: data, mountPath: /data, persistentVolumeClaim: {claimName: datasets}}
  nodeSelector: {pool: cpu}
  env: {TOKEN: {secretKeyRef: {name: tok, key: t}}}
  ttlSecondsAfterFinished: 600
  ray:
    cluster: kuberay
    image: rayproject/ray:2.52.0
    entrypoint: python tune.py
    head: {resources: {cpu: "1", memory: 2048Mi, gpu: 0}}
  roles:
    worker: {replicas: 2, minReplicas: 1, maxReplicas: 4, image: rayproject/ray:2.52.0-gpu}
)";

class KubeRayModelTest : public ::testing::Test {
 protected:
  ManifestFile Parse(const std::string& text) {
    return ParseManifestFile("jobs/tune.yaml", text, validator_);
  }
  static std::string Report(const std::vector<Diagnostic>& diagnostics) {
    std::string out;
    for (const Diagnostic& d : diagnostics) out += d.ToString() + "\n";
    return out;
  }
  SchemaValidator validator_;
};

TEST_F(KubeRayModelTest, LoadsWithThePodSettingsASharedClusterRefuses) {
  ManifestFile file = Parse(kKubeRay);
  ASSERT_THAT(Report(file.diagnostics), IsEmpty());
  ASSERT_THAT(file.jobs, SizeIs(1));
  const TrainingJob& job = *file.jobs[0].job;
  EXPECT_EQ(job.backend, BackendKind::kRay);
  EXPECT_EQ(job.key().ToString(), "kubernetes/search/tune");  // the RayJob is a Kubernetes object
  ASSERT_TRUE(job.ray.has_value());
  EXPECT_EQ(job.ray->cluster, RayCluster::kKubeRay);
  EXPECT_EQ(job.ray->image, "rayproject/ray:2.52.0");
  EXPECT_EQ(job.ray->head_resources.memory->text(), "2048Mi");
  EXPECT_EQ(job.ray->head_resources.gpu, 0);
  // Canonical: the cluster kind, the image and the head's resources round-trip.
  const nlohmann::json canonical = CanonicalSpec(job);
  EXPECT_EQ(canonical["spec"]["ray"]["cluster"], "kuberay");
  EXPECT_EQ(canonical["spec"]["ray"]["head"]["resources"]["memory"], "2Gi");
  StatusOr<TrainingJob> back = TrainingJobFromCanonical(canonical);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(CanonicalSpecText(*back), CanonicalSpecText(job));
  EXPECT_EQ(back->key(), job.key());
}

TEST_F(KubeRayModelTest, SharedJobsKeepTheirCanonicalForm) {
  const std::string shared = R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: tune}
spec:
  backend: ray
  ray: {entrypoint: python tune.py}
  roles: {worker: {replicas: 1}}
)";
  ManifestFile file = Parse(shared);
  ASSERT_THAT(Report(file.diagnostics), IsEmpty());
  const nlohmann::json ray = CanonicalSpec(*file.jobs.at(0).job)["spec"]["ray"];
  EXPECT_FALSE(ray.contains("cluster"));
  EXPECT_FALSE(ray.contains("image"));
  EXPECT_FALSE(ray.contains("head"));
  EXPECT_EQ(file.jobs.at(0).job->key().ToString(), "ray/default/tune");
}

TEST_F(KubeRayModelTest, RefusesWhatARayJobCannotHonourAtItsKey) {
  std::string text = kKubeRay;
  text.replace(text.find("  ray:\n"), 6, "  args: [--fast]\n  queue: main\n  ray:\n");
  text.replace(text.find("image: rayproject/ray:2.52.0-gpu}"), 33,
               "image: rayproject/ray:2.52.0-gpu, command: [python]}");
  ManifestFile file = Parse(text);
  EXPECT_THAT(file.jobs, IsEmpty());
  const std::string report = Report(file.diagnostics);
  EXPECT_THAT(report, HasSubstr("jobs/tune.yaml:11:3: spec.args: not supported with ray.cluster: "
                                "kuberay (hint: put the arguments in spec.ray.entrypoint)"));
  EXPECT_THAT(report, HasSubstr("spec.queue: not supported with ray.cluster: kuberay"));
  EXPECT_THAT(report,
              HasSubstr("spec.roles.worker.command: not supported with ray.cluster: kuberay"));
  EXPECT_THAT(file.invalid, SizeIs(1));
  ASSERT_TRUE(file.invalid[0].key.has_value());
  EXPECT_EQ(file.invalid[0].key->ToString(), "kubernetes/search/tune");
}

TEST_F(KubeRayModelTest, NeedsAnImage) {
  std::string text = kKubeRay;
  text.replace(text.find("    image: rayproject/ray:2.52.0\n"), 33, "");
  text.replace(text.find(", image: rayproject/ray:2.52.0-gpu"), 34, "");
  ManifestFile file = Parse(text);
  EXPECT_THAT(Report(file.diagnostics), HasSubstr("spec.ray: no image for the Ray head"));
  EXPECT_THAT(Report(file.diagnostics),
              HasSubstr("spec.roles.worker: no image for its Ray workers"));
}

TEST_F(KubeRayModelTest, RayImageAndHeadOnlyWithKubeRay) {
  const std::string shared = R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: tune}
spec:
  backend: ray
  ray:
    image: rayproject/ray:2.52.0
    entrypoint: python tune.py
    head: {resources: {cpu: "1"}}
  roles: {worker: {replicas: 1}}
)";
  ManifestFile file = Parse(shared);
  EXPECT_EQ(Report(file.diagnostics),
            "jobs/tune.yaml:7:5: spec.ray.image: only for ray.cluster: kuberay (the RayJob's own "
            "Ray cluster) (hint: remove it, or set spec.ray.cluster: kuberay)\n"
            "jobs/tune.yaml:9:5: spec.ray.head: only for ray.cluster: kuberay (the RayJob's own "
            "Ray cluster) (hint: remove it, or set spec.ray.cluster: kuberay)\n");
}

}  // namespace
}  // namespace jobsync
