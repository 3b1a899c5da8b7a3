#include "agent/git/git_source.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/secrets.h"
#include "tests/agent/git/git_test_util.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;
using testing::CountObjects;
using ::testing::HasSubstr;
using testing::JobYaml;
using ::testing::Not;
using testing::OnlyCacheDir;
using testing::TempDir;
using testing::TestOptions;
using testing::TestRepo;

class GitSourceTest : public ::testing::Test {
 protected:
  GitSourceTest() : repo_(dir_.path() / "repo") {}

  std::unique_ptr<GitSource> Source(GitSourceOptions options) {
    StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(std::move(options), validator_);
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    return source.ok() ? std::move(*source) : nullptr;
  }
  std::unique_ptr<GitSource> Source() { return Source(Options()); }
  // A file:// URL, so that these tests go through fetching and the cache (a plain path is read in
  // place: local_repo_test.cc).
  GitSourceOptions Options() { return TestOptions("file://" + repo_.dir().string(), cache_root()); }
  fs::path cache_root() const { return dir_.path() / "cache"; }

  std::vector<std::string> JobNames(const Snapshot& snapshot) {
    std::vector<std::string> names;
    for (const auto& job : snapshot.manifests.jobs) names.push_back(job->name);
    return names;
  }

  TempDir dir_;
  TestRepo repo_;
  SchemaValidator validator_;
};

TEST_F(GitSourceTest, LoadsManifestsOfTheFetchedCommit) {
  repo_.Write("jobs/a.yaml", JobYaml("a"));
  repo_.Write("jobs/b.yml", JobYaml("b") + "---\n" + JobYaml("c"));
  std::string commit = repo_.Commit("Add jobs", "Bob Builder");
  auto source = Source();
  StatusOr<std::string> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(*fetched, commit);
  StatusOr<Snapshot> snapshot = source->LoadAt(commit);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_THAT(JobNames(*snapshot), ::testing::ElementsAre("a", "b", "c"));
  EXPECT_EQ(snapshot->commit.id, commit);
  EXPECT_EQ(snapshot->commit.author_name, "Bob Builder");
  EXPECT_EQ(snapshot->commit.summary, "Add jobs");
  EXPECT_EQ(snapshot->manifests.jobs[0]->source.path, "jobs/a.yaml");
  // The cache is a bare repository, never a work tree.
  EXPECT_TRUE(fs::exists(OnlyCacheDir(cache_root()) / "HEAD"));
  EXPECT_FALSE(fs::exists(OnlyCacheDir(cache_root()) / "jobs"));
}

TEST_F(GitSourceTest, ReadsOnlyManifestsUnderThePath) {
  repo_.Write("jobs/a.yaml", JobYaml("a"));
  repo_.Write("jobs/team/b.yaml", JobYaml("b"));
  repo_.Write("jobs/.hidden/c.yaml", JobYaml("c"));
  repo_.Write("jobs/README.md", "not a manifest");
  repo_.Write("other/d.yaml", JobYaml("d"));
  std::string commit = repo_.Commit("Add jobs");
  GitSourceOptions options = Options();
  options.path = "jobs/";
  auto source = Source(options);
  ASSERT_TRUE(source->Fetch().ok());
  StatusOr<Snapshot> snapshot = source->LoadAt(commit);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_THAT(JobNames(*snapshot), ::testing::ElementsAre("a", "b"));
  EXPECT_TRUE(snapshot->manifests.ok());
}

TEST_F(GitSourceTest, MissingPathIsAnErrorNotAnEmptySet) {
  repo_.Write("jobs/a.yaml", JobYaml("a"));
  std::string commit = repo_.Commit("Add a");
  GitSourceOptions options = Options();
  options.path = "nope";
  auto source = Source(options);
  ASSERT_TRUE(source->Fetch().ok());
  StatusOr<Snapshot> snapshot = source->LoadAt(commit);
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(snapshot.status().message(), HasSubstr("--path nope does not exist"));
}

TEST_F(GitSourceTest, ChecksForChangeWithoutDownloading) {
  repo_.Write("a.yaml", JobYaml("a"));
  std::string first = repo_.Commit("Add a");
  auto source = Source();
  ASSERT_TRUE(source->Fetch().ok());
  fs::path cache = OnlyCacheDir(cache_root());
  int objects = CountObjects(cache);
  ASSERT_GT(objects, 0);

  StatusOr<std::string> unchanged = source->CheckForChange();
  ASSERT_TRUE(unchanged.ok()) << unchanged.status().ToString();
  EXPECT_EQ(*unchanged, first);

  repo_.Write("a.yaml", JobYaml("a", "default", "trainer:v2"));
  std::string second = repo_.Commit("Bump a");
  StatusOr<std::string> moved = source->CheckForChange();
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(*moved, second);
  // Asking moved nothing into the cache; only the fetch does.
  EXPECT_EQ(CountObjects(cache), objects);
  EXPECT_EQ(source->stats().remote_checks, 2);
  EXPECT_EQ(source->stats().fetches, 1);
  StatusOr<std::string> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ(*fetched, second);
  EXPECT_GT(CountObjects(cache), objects);
  // One helper process served the two fetches and the two checks.
  EXPECT_EQ(source->stats().helper_starts, 1);
}

TEST_F(GitSourceTest, ReparsesOnlyChangedBlobs) {
  for (const char* name : {"a", "b", "c", "d"}) {
    repo_.Write(std::string("jobs/") + name + ".yaml", JobYaml(name));
  }
  std::string first = repo_.Commit("Add four jobs");
  auto source = Source();
  ASSERT_TRUE(source->Fetch().ok());
  ASSERT_TRUE(source->LoadAt(first).ok());
  EXPECT_EQ(source->stats().files_parsed, 4);

  repo_.Write("jobs/b.yaml", JobYaml("b", "default", "trainer:v2"));
  repo_.Git("rm -q jobs/d.yaml");
  repo_.Write("jobs/e.yaml", JobYaml("e"));
  std::string second = repo_.Commit("Change b, drop d, add e");
  StatusOr<std::string> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok());
  StatusOr<Snapshot> snapshot = source->LoadAt(*fetched);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(source->stats().files_parsed, 6);  // b and e only
  EXPECT_THAT(JobNames(*snapshot), ::testing::ElementsAre("a", "b", "c", "e"));
  EXPECT_EQ(snapshot->manifests.jobs[1]->image, "trainer:v2");

  // Going back reuses the parses of the first commit by blob id.
  StatusOr<Snapshot> back = source->LoadAt(first);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(source->stats().files_parsed, 6);
  EXPECT_THAT(JobNames(*back), ::testing::ElementsAre("a", "b", "c", "d"));
  EXPECT_EQ(back->manifests.jobs[1]->image, "trainer:v1");
}

TEST_F(GitSourceTest, FollowsForcePushedBranch) {
  repo_.Write("a.yaml", JobYaml("a"));
  repo_.Commit("Add a");
  repo_.Write("b.yaml", JobYaml("b"));
  std::string abandoned = repo_.Commit("Add b");
  auto source = Source();
  StatusOr<std::string> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ(*fetched, abandoned);

  // Rewrite history: the branch no longer contains the fetched commit.
  repo_.Git("reset -q --hard HEAD~1");
  repo_.Write("c.yaml", JobYaml("c"));
  std::string rewritten = repo_.Commit("Add c instead");
  fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(*fetched, rewritten);
  StatusOr<Snapshot> snapshot = source->LoadAt(rewritten);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_THAT(JobNames(*snapshot), ::testing::ElementsAre("a", "c"));
}

TEST_F(GitSourceTest, DeletedBranchIsNotFound) {
  repo_.Write("a.yaml", JobYaml("a"));
  repo_.Commit("Add a");
  repo_.Git("branch feature");
  GitSourceOptions options = Options();
  options.branch = "feature";
  auto source = Source(options);
  ASSERT_TRUE(source->Fetch().ok());
  repo_.Git("branch -q -D feature");
  for (StatusOr<std::string> result : {source->CheckForChange(), source->Fetch()}) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
    EXPECT_THAT(result.status().message(), HasSubstr("branch feature does not exist"));
  }
}

TEST_F(GitSourceTest, EmptyRepositoryIsAnError) {
  auto source = Source();
  for (StatusOr<std::string> result : {source->CheckForChange(), source->Fetch()}) {
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(result.status().message(), HasSubstr("is empty"));
  }
}

TEST_F(GitSourceTest, MissingRepositoryIsAnErrorNotAnEmptySet) {
  auto source = Source(TestOptions("file://" + (dir_.path() / "absent").string(), cache_root()));
  StatusOr<std::string> fetched = source->Fetch();
  ASSERT_FALSE(fetched.ok());
  EXPECT_THAT(fetched.status().message(), HasSubstr("absent"));
  StatusOr<Snapshot> snapshot = source->LoadAt(std::string(40, 'a'));
  EXPECT_FALSE(snapshot.ok());
}

TEST_F(GitSourceTest, ReadsTagsAndRevisions) {
  repo_.Write("a.yaml", JobYaml("a"));
  std::string first = repo_.Commit("Add a");
  repo_.Git("tag -a v1 -m 'Release 1'");
  repo_.Write("b.yaml", JobYaml("b"));
  repo_.Commit("Add b");

  GitSourceOptions by_tag = Options();
  by_tag.tag = "v1";
  auto tagged = Source(by_tag);
  StatusOr<std::string> check = tagged->CheckForChange();
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_EQ(*check, first);  // the annotated tag, peeled to its commit
  StatusOr<std::string> fetched = tagged->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(*fetched, first);

  GitSourceOptions by_rev = Options();
  by_rev.rev = first.substr(0, 8);
  auto pinned = Source(by_rev);
  fetched = pinned->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(*fetched, first);
  check = pinned->CheckForChange();
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(*check, first);
  EXPECT_EQ(pinned->stats().remote_checks, 0);

  by_rev.rev = "deadbeef";
  fetched = Source(by_rev)->Fetch();
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.status().code(), StatusCode::kNotFound);
}

// How a cache can be damaged: by a crash, a full disk, a person.
struct Damage {
  const char* name;
  void (*apply)(const fs::path& cache);
};

class GitSourceCorruptCacheTest : public GitSourceTest,
                                  public ::testing::WithParamInterface<Damage> {};

TEST_P(GitSourceCorruptCacheTest, RebuildsTheCache) {
  repo_.Write("a.yaml", JobYaml("a"));
  repo_.Commit("Add a");
  auto source = Source();
  ASSERT_TRUE(source->Fetch().ok());
  GetParam().apply(OnlyCacheDir(cache_root()));
  repo_.Write("b.yaml", JobYaml("b"));
  std::string second = repo_.Commit("Add b");
  StatusOr<std::string> fetched = source->Fetch();
  ASSERT_TRUE(fetched.ok()) << fetched.status().ToString();
  EXPECT_EQ(*fetched, second);
  EXPECT_EQ(source->stats().cache_rebuilds, 1);
  StatusOr<Snapshot> snapshot = source->LoadAt(second);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_THAT(JobNames(*snapshot), ::testing::ElementsAre("a", "b"));
}

void OverwriteAll(const fs::path& dir) {
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    fs::permissions(entry.path(), fs::perms::owner_write, fs::perm_options::add);
    std::ofstream(entry.path(), std::ios::binary | std::ios::trunc) << "garbage";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Damages, GitSourceCorruptCacheTest,
    ::testing::Values(
        Damage{"GarbageHead",
               [](const fs::path& cache) { std::ofstream(cache / "HEAD") << "garbage"; }},
        Damage{"GarbageObjects", [](const fs::path& cache) { OverwriteAll(cache / "objects"); }},
        Damage{"NoObjects", [](const fs::path& cache) { fs::remove_all(cache / "objects"); }}),
    [](const ::testing::TestParamInfo<Damage>& param) { return param.param.name; });

TEST_F(GitSourceTest, RejectsContradictoryOptions) {
  struct Case {
    const char* name;
    void (*edit)(GitSourceOptions&);
    const char* message;
  };
  const Case cases[] = {
      {"two refs",
       [](GitSourceOptions& o) {
         o.branch = "main";
         o.tag = "v1";
       },
       "at most one"},
      {"bad rev", [](GitSourceOptions& o) { o.rev = "--upload-pack=x"; }, "is not a revision"},
      {"bad scheme", [](GitSourceOptions& o) { o.repo = "ftp://host/repo"; }, "unsupported"},
      {"token over http",
       [](GitSourceOptions& o) {
         o.repo = "http://host/repo";
         o.credentials.token_env = "TOKEN";
       },
       "plain http"},
      {"absolute path", [](GitSourceOptions& o) { o.path = "/jobs"; }, "relative"},
  };
  for (const Case& c : cases) {
    GitSourceOptions options = Options();
    c.edit(options);
    StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(options, validator_);
    ASSERT_FALSE(source.ok()) << c.name;
    EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(source.status().message(), HasSubstr(c.message)) << c.name;
  }
}

TEST(ScrubSecretsTest, RemovesCredentialsFromMessages) {
  struct Case {
    std::string in;
    std::string out;
  };
  const Case cases[] = {
      {"failed for https://alice:s3cret@git.example.com/org/repo: 401",
       "failed for https://alice:***@git.example.com/org/repo: 401"},
      {"https://ghp_token123@github.com/org/repo", "https://***@github.com/org/repo"},
      {"'ssh://git@host:2222/repo' refused", "'ssh://git@host:2222/repo' refused"},
      {"ssh://git:pw@host/repo", "ssh://git:***@host/repo"},
      {"no url here", "no url here"},
      {"two http://a:b@x/ and HTTPS://c:d@y", "two http://a:***@x/ and HTTPS://c:***@y"},
  };
  for (const Case& c : cases) EXPECT_EQ(ScrubSecrets(c.in), c.out) << c.in;
  EXPECT_EQ(ScrubSecrets("token tok-123 was rejected", {"tok-123"}), "token *** was rejected");
  EXPECT_THAT(ScrubSecrets("xx tok tok", {"tok", ""}), Not(HasSubstr("tok")));
}

}  // namespace
}  // namespace jobsync
