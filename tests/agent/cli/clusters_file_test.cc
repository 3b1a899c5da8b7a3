// The agent's clusters file (agent/cli/clusters_file.h) and the loader's check of spec.cluster
// against it (schemas/loader.h, LoadOptions::clusters).
#include "agent/cli/clusters_file.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/cli/cluster_flags.h"
#include "schemas/loader.h"
#include "schemas/schema_validator.h"

namespace jobsync {
namespace {

using ::testing::HasSubstr;

TEST(ClustersFileTest, ReadsClustersWithPathsRelativeToTheFile) {
  StatusOr<ClustersFile> file = ParseClustersFile(R"(clusters:
- name: east
  default: true
  kubeconfig: east.kubeconfig
  context: east-admin
  ray: {address: "http://127.0.0.1:8265", tokenFile: /etc/ray.token}
  allowNamespaces: [team-a]
  allowBackends: [kubernetes]
- name: west
  kubeconfig: /abs/west.kubeconfig
)",
                                                  "/etc/jobsync/clusters.yaml");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ(file->clusters.size(), 2u);
  const ClusterEntry& east = file->default_cluster();
  EXPECT_EQ(east.name, "east");
  EXPECT_EQ(east.kubeconfig, "/etc/jobsync/east.kubeconfig");
  EXPECT_EQ(east.context, "east-admin");
  EXPECT_EQ(east.ray_address, "http://127.0.0.1:8265");
  EXPECT_EQ(east.ray_token_file, "/etc/ray.token");
  EXPECT_EQ(east.allow_namespaces, std::vector<std::string>{"team-a"});
  EXPECT_EQ(file->clusters[1].kubeconfig, "/abs/west.kubeconfig");
  EXPECT_TRUE(file->clusters[1].ray_address.empty());
  const ClusterNames names = file->Names();
  EXPECT_EQ(names.default_name, "east");
  EXPECT_EQ(names.others, std::set<std::string>{"west"});
}

TEST(ClustersFileTest, AnOnlyClusterIsTheDefault) {
  StatusOr<ClustersFile> file = ParseClustersFile("clusters: [{name: solo}]\n", "c.yaml");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->default_cluster().name, "solo");
}

TEST(ClustersFileTest, MistakesAreLocatedWithAHint) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"clusters:\n- name: a\n  kubeconfg: x\n",
       "c.yaml:3:3: clusters[0]: unknown key 'kubeconfg' "
       "(hint: did you mean 'kubeconfig'?)"},
      {"clusters:\n- name: a\n- name: b\n", "none is the default"},
      {"clusters:\n- {name: a, default: true}\n- {name: b, default: true}\n",
       "more than one is the default"},
      {"clusters:\n- {name: a, default: true}\n- {name: a}\n", "cluster 'a' is named twice"},
      {"clusters:\n- {name: Gpu_East}\n", "c.yaml:2:10: clusters[0].name: 'Gpu_East'"},
      {"clusters:\n- {name: a, ray: {token: x}}\n", "unknown key 'token'"},
      {"clusters:\n- {name: a, ray: {tokenFile: x}}\n", "clusters[0].ray: address is missing"},
      {"clusters:\n- {name: a, allowBackends: [k8s]}\n", "'k8s' is not a backend"},
      {"clusters: []\n", "a non-empty list is required"},
      {"cluster: []\n", "unknown key 'cluster' (hint: did you mean 'clusters'?)"},
  };
  for (const Case& c : cases) {
    StatusOr<ClustersFile> file = ParseClustersFile(c.text, "c.yaml");
    ASSERT_FALSE(file.ok()) << c.text;
    EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(file.status().message(), HasSubstr(c.message)) << c.text;
  }
}

TEST(ClustersFileTest, ClusterFlagsCannotAlsoNameAKubeconfig) {
  ClusterFlags flags;
  flags.clusters_file = "/nonexistent/clusters.yaml";
  flags.kubeconfig = "/some/kubeconfig";
  Status resolved = ResolveClusters(flags);
  EXPECT_EQ(resolved.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(resolved.message(), HasSubstr("--kubeconfig cannot be used with --clusters"));
  flags.kubeconfig.clear();
  EXPECT_EQ(ResolveClusters(flags).code(), StatusCode::kNotFound);
}

TEST(ClustersFileTest, PerClusterAllowlistsReachThePlanOptions) {
  ClusterFlags flags;
  flags.clusters = *ParseClustersFile(
      "clusters:\n- {name: east, default: true, allowNamespaces: [a]}\n- {name: west, "
      "allowBackends: [ray]}\n",
      "c.yaml");
  const PlanOptions options = ToPlanOptions(flags);
  EXPECT_TRUE(options.Allows({BackendKind::kKubernetes, "a", "job"}));
  EXPECT_FALSE(options.Allows({BackendKind::kKubernetes, "b", "job"}));
  EXPECT_TRUE(options.Allows({BackendKind::kRay, "b", "job", "west"}));
  EXPECT_FALSE(options.Allows({BackendKind::kKubernetes, "b", "job", "west"}));
  EXPECT_EQ(DefaultClusterName(flags), "east");
}

constexpr const char* kJob = R"(apiVersion: jobsync.dev/v1alpha1
kind: TrainingJob
metadata: {name: bert, namespace: nlp}
spec:
  backend: kubernetes
  cluster: CLUSTER
  image: trainer:v1
  roles: {worker: {replicas: 1}}
)";

ManifestFile Parse(const std::string& cluster, std::optional<ClusterNames> clusters) {
  static const SchemaValidator validator;
  std::string text = kJob;
  text.replace(text.find("CLUSTER"), 7, cluster);
  return ParseManifestFile("jobs/bert.yaml", text, validator,
                           {YamlLimits{}, ElasticJobMode::kNative, std::move(clusters)});
}

TEST(ClusterManifestTest, SpecClusterNamesOneOfTheAgentsClusters) {
  const ClusterNames names{"east", {"west"}};
  ManifestFile file = Parse("west", names);
  ASSERT_EQ(file.jobs.size(), 1u);
  EXPECT_EQ(file.jobs[0].job->key().ToString(), "kubernetes/nlp/bert@west");
  // The default cluster's name reads as no name: the same identity as without spec.cluster.
  file = Parse("east", names);
  ASSERT_EQ(file.jobs.size(), 1u);
  EXPECT_EQ(file.jobs[0].job->key().ToString(), "kubernetes/nlp/bert");
  // Unchecked where the clusters are not known (validate, render, the offline plan).
  file = Parse("anywhere", std::nullopt);
  ASSERT_EQ(file.jobs.size(), 1u);
  EXPECT_EQ(file.jobs[0].job->cluster, "anywhere");
}

TEST(ClusterManifestTest, AnUnknownClusterIsALocatedErrorThatKeepsTheKey) {
  ManifestFile file = Parse("wset", ClusterNames{"east", {"west"}});
  ASSERT_TRUE(file.jobs.empty());
  ASSERT_EQ(file.diagnostics.size(), 1u);
  EXPECT_EQ(file.diagnostics[0].ToString(),
            "jobs/bert.yaml:6:12: spec.cluster: no cluster \"wset\" in the agent's clusters file "
            "(east (default), west) (hint: use one of those names, or add the cluster to the "
            "clusters file (--clusters))");
  ASSERT_EQ(file.invalid.size(), 1u);
  ASSERT_TRUE(file.invalid[0].key.has_value());
  EXPECT_EQ(file.invalid[0].key->cluster, "wset");

  file = Parse("west", ClusterNames{});
  ASSERT_EQ(file.diagnostics.size(), 1u);
  EXPECT_THAT(file.diagnostics[0].message, HasSubstr("the agent has no clusters file"));
}

}  // namespace
}  // namespace jobsync
