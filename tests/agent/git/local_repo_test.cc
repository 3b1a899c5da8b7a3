// A --repo given as a local path is read in place: every revision form `git rev-parse` knows, in
// clones made with the git command as CI jobs make them (shallow, detached, merge refs).
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/git/git_source.h"
#include "tests/agent/git/git_test_util.h"

namespace jobsync {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::JobYaml;
using testing::RunShell;
using testing::ShellQuote;
using testing::TempDir;
using testing::TestOptions;
using testing::TestRepo;

// An "origin" bare repository with main (two commits), a pull-request branch and GitHub's merge
// ref refs/pull/1/merge (the PR merged into main), pushed from an author's work tree.
class LocalRepoTest : public ::testing::Test {
 protected:
  LocalRepoTest() : author_(dir_.path() / "author") {
    author_.Write("jobs/a.yaml", JobYaml("a"));
    first_ = author_.Commit("Add a");
    author_.Git("tag v1");
    author_.Git("tag -a v1-annotated -m 'Release 1'");
    author_.Write("jobs/b.yaml", JobYaml("b"));
    main_ = author_.Commit("Add b");
    author_.Git("checkout -q -b feature");
    author_.Write("jobs/c.yaml", JobYaml("c", "vision"));
    feature_ = author_.Commit("Add c");
    author_.Git("checkout -q --detach main");
    author_.Git("merge -q --no-ff -m 'Merge feature into main' feature");
    merge_ = author_.Git("rev-parse HEAD").substr(0, 40);
    author_.Git("checkout -q main");
    Run("git init -q --bare -b main " + ShellQuote(origin().string()));
    author_.Git("push -q " + ShellQuote(origin().string()) + " main feature --tags " + merge_ +
                ":refs/pull/1/merge");
  }

  fs::path origin() const { return dir_.path() / "origin.git"; }
  std::string origin_url() const { return "file://" + origin().string(); }
  fs::path cache_root() const { return dir_.path() / "cache"; }

  static void Run(const std::string& command) {
    std::string output;
    ASSERT_EQ(RunShell(command, &output), 0) << command << ":\n" << output;
  }
  static void Git(const fs::path& repo, const std::string& args) {
    Run("git -C " + ShellQuote(repo.string()) + " " + args);
  }

  StatusOr<std::string> Resolve(const fs::path& repo, const std::string& rev) {
    GitSourceOptions options = TestOptions(repo.string(), cache_root());
    options.rev = rev;
    StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(options, validator_);
    if (!source.ok()) return source.status();
    return (*source)->Fetch();
  }

  // The commit `rev` resolves to, or the error's message, so that a failure shows why.
  std::string CommitOf(const fs::path& repo, const std::string& rev) {
    StatusOr<std::string> commit = Resolve(repo, rev);
    return commit.ok() ? *commit : "error: " + commit.status().message();
  }

  std::vector<std::string> JobsAt(const fs::path& repo, const std::string& rev) {
    GitSourceOptions options = TestOptions(repo.string(), cache_root());
    options.rev = rev;
    StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(options, validator_);
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    if (!source.ok()) return {};
    StatusOr<std::string> commit = (*source)->Fetch();
    EXPECT_TRUE(commit.ok()) << rev << ": " << commit.status().ToString();
    if (!commit.ok()) return {};
    StatusOr<Snapshot> snapshot = (*source)->LoadAt(*commit);
    EXPECT_TRUE(snapshot.ok()) << snapshot.status().ToString();
    if (!snapshot.ok()) return {};
    std::vector<std::string> names;
    for (const auto& job : snapshot->manifests.jobs) names.push_back(job->name);
    return names;
  }

  // What actions/checkout does for a pull_request event (fetch-depth 1), then the base fetched at
  // depth 1 as the README's workflow does.
  fs::path GithubCheckout() {
    fs::path ci = dir_.path() / "github";
    Run("git init -q " + ShellQuote(ci.string()));
    Git(ci, "remote add origin " + ShellQuote(origin_url()));
    Git(ci, "fetch -q --no-tags --depth=1 origin +refs/pull/1/merge:refs/remotes/pull/1/merge");
    Git(ci, "checkout -q --detach refs/remotes/pull/1/merge");
    Git(ci, "fetch -q --no-tags --depth=1 origin main");
    return ci;
  }

  TempDir dir_;
  TestRepo author_;
  SchemaValidator validator_;
  std::string first_, main_, feature_, merge_;
};

TEST_F(LocalRepoTest, ResolvesEveryRevisionFormInAFullClone) {
  fs::path clone = dir_.path() / "clone";
  Run("git clone -q " + ShellQuote(origin_url()) + " " + ShellQuote(clone.string()));
  Git(clone, "fetch -q origin +refs/pull/1/merge:refs/pull/1/merge");
  Git(clone, "fetch -q origin feature");  // FETCH_HEAD: the PR branch
  struct Case {
    std::string rev;
    std::string commit;
  };
  const Case cases[] = {
      {"HEAD", main_},
      {"HEAD~1", first_},
      {"HEAD^", first_},
      {"origin/main", main_},
      {"origin/feature", feature_},
      {"refs/pull/1/merge", merge_},
      {"refs/pull/1/merge^2", feature_},
      {"refs/pull/1/merge^1", main_},
      {"FETCH_HEAD", feature_},
      {"v1", first_},
      {"v1-annotated", first_},
      {main_.substr(0, 9), main_},
      {main_, main_},
  };
  for (const Case& c : cases) {
    StatusOr<std::string> commit = Resolve(clone, c.rev);
    ASSERT_TRUE(commit.ok()) << c.rev << ": " << commit.status().ToString();
    EXPECT_EQ(*commit, c.commit) << c.rev;
  }
  EXPECT_THAT(JobsAt(clone, "refs/pull/1/merge"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(JobsAt(clone, "HEAD~1"), ElementsAre("a"));
  // Read in place: no cache was made.
  EXPECT_FALSE(fs::exists(cache_root()));
}

TEST_F(LocalRepoTest, FollowsADetachedHead) {
  fs::path clone = dir_.path() / "clone";
  Run("git clone -q " + ShellQuote(origin_url()) + " " + ShellQuote(clone.string()));
  Git(clone, "checkout -q --detach " + first_);
  GitSourceOptions options = TestOptions(clone.string(), cache_root());
  StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(options, validator_);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  StatusOr<std::string> head = (*source)->Fetch();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(*head, first_);
  // A subfolder of the work tree finds the repository as git does.
  EXPECT_EQ(CommitOf(clone / "jobs", "HEAD"), first_);
}

TEST_F(LocalRepoTest, ReadsAShallowCheckoutOfTheMergeRefAndItsBase) {
  fs::path ci = GithubCheckout();
  ASSERT_TRUE(fs::exists(ci / ".git" / "shallow"));
  EXPECT_EQ(CommitOf(ci, "HEAD"), merge_);
  EXPECT_EQ(CommitOf(ci, "origin/main"), main_);
  EXPECT_EQ(CommitOf(ci, "FETCH_HEAD"), main_);
  EXPECT_THAT(JobsAt(ci, "HEAD"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(JobsAt(ci, "origin/main"), ElementsAre("a", "b"));

  // History ends where the clone was cut: the merge commit and main's tip (its first parent,
  // fetched for the base), not the commit before them.
  GitSourceOptions options = TestOptions(ci.string(), cache_root());
  StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(options, validator_);
  ASSERT_TRUE(source.ok());
  StatusOr<std::vector<CommitInfo>> log = (*source)->FirstParentLog(merge_, 0);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0].id, merge_);
  EXPECT_EQ((*log)[1].id, main_);
}

TEST_F(LocalRepoTest, ARevisionAShallowCloneLacksNamesTheFetchThatBringsIt) {
  fs::path ci = GithubCheckout();
  struct Case {
    std::string rev;
    std::string fetch;
  };
  const Case cases[] = {
      {"HEAD~2", "git fetch --deepen=2"},  // HEAD~1 is main's tip, fetched for the base
      {"HEAD^2", "git fetch --deepen=1"},
      {"HEAD~99999999999", "git fetch --deepen=99999999999"},  // beyond int: no std::out_of_range
      {"origin/main~1", "git fetch --deepen=1"},
      {"origin/feature", "git fetch --depth=1 origin feature"},
      {"refs/pull/2/merge", "git fetch --depth=1 origin +refs/pull/2/merge:refs/pull/2/merge"},
  };
  for (const Case& c : cases) {
    StatusOr<std::string> commit = Resolve(ci, c.rev);
    ASSERT_FALSE(commit.ok()) << c.rev;
    EXPECT_EQ(commit.status().code(), StatusCode::kNotFound) << c.rev;
    EXPECT_THAT(commit.status().message(), HasSubstr("revision " + c.rev + " is not in")) << c.rev;
    EXPECT_THAT(commit.status().message(), HasSubstr("shallow clone")) << c.rev;
    EXPECT_THAT(commit.status().message(), HasSubstr(c.fetch)) << c.rev;
  }
  // After the fetch the message names, the revision resolves.
  Git(ci, "fetch -q --deepen=1");
  EXPECT_EQ(CommitOf(ci, "HEAD^2"), feature_);
}

TEST_F(LocalRepoTest, ReadsGitLabsDetachedMergeRequestCheckout) {
  // GitLab's merge-request pipeline: a shallow fetch of the merge-request ref (depth 20 by
  // default, 1 here), checked out detached; the target branch fetched for the base.
  Git(origin(), "update-ref refs/merge-requests/1/head " + feature_);
  fs::path ci = dir_.path() / "gitlab";
  Run("git init -q " + ShellQuote(ci.string()));
  Git(ci, "remote add origin " + ShellQuote(origin_url()));
  Git(ci, "fetch -q --depth=1 origin +refs/merge-requests/1/head:refs/merge-requests/1/head");
  Git(ci, "checkout -q --detach refs/merge-requests/1/head");
  Git(ci, "fetch -q --depth=1 origin main");
  EXPECT_EQ(CommitOf(ci, "HEAD"), feature_);
  EXPECT_EQ(CommitOf(ci, "origin/main"), main_);
  EXPECT_THAT(JobsAt(ci, "HEAD"), ElementsAre("a", "b", "c"));
}

TEST_F(LocalRepoTest, NamesAMissingPathAndAFolderThatIsNoRepository) {
  GitSourceOptions missing = TestOptions((dir_.path() / "absent").string(), cache_root());
  StatusOr<std::unique_ptr<GitSource>> source = NewGitSource(missing, validator_);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(source.status().message(), HasSubstr("absent does not exist"));
  EXPECT_THAT(source.status().message(), ::testing::Not(HasSubstr("unsupported")));

  fs::path plain = dir_.path() / "plain";
  fs::create_directories(plain);
  // GIT_CEILING_DIRECTORIES is not needed: the scratch folder is under /tmp, outside any repo.
  GitSourceOptions not_repo = TestOptions(plain.string(), cache_root());
  source = NewGitSource(not_repo, validator_);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(source.status().message(), HasSubstr("plain is not a Git repository"));
}

}  // namespace
}  // namespace jobsync
