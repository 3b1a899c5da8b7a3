#include "agent/cli/git_flags.h"

#include <chrono>

#include <CLI/CLI.hpp>

namespace jobsync {
namespace {

constexpr const char* kGroup = "Git source";

// --repo, the ref it follows (--branch, --tag, --rev), --path and --cache-dir.
void AddRepoFlags(CLI::App& command, GitFlags& flags, bool repo_required) {
  command
      .add_option("--repo", flags.repo,
                  "Repository holding the manifests: a local path (a clone, read in place: its "
                  "own refs and objects, nothing fetched), or a file://, git://, https://, "
                  "ssh:// or scp-like (git@host:org/repo) URL (fetched into a cache)")
      ->required(repo_required)
      ->group(kGroup);
  CLI::Option* branch =
      command
          .add_option("--branch", flags.branch,
                      "Branch to follow (default: the remote's default branch, its HEAD; for a "
                      "local path, the checked-out HEAD)")
          ->group(kGroup);
  CLI::Option* tag =
      command.add_option("--tag", flags.tag, "Tag to read instead of a branch")->group(kGroup);
  CLI::Option* rev =
      command
          .add_option("--rev", flags.rev,
                      "Revision to read instead of a branch, as git rev-parse reads it. With a "
                      "local --repo path: anything rev-parse resolves there (HEAD, HEAD~1, "
                      "HEAD^2, origin/main, FETCH_HEAD, refs/pull/1/merge, a tag, an abbreviated "
                      "id), detached HEADs and shallow clones included. With a URL: a commit id, "
                      "or a branch or tag with ~N or ^ (main~1) on a branch or tag of the remote")
          ->group(kGroup);
  branch->excludes(tag)->excludes(rev);
  tag->excludes(rev);
  command
      .add_option("--path", flags.path,
                  "Folder of the repository holding the manifests (*.yaml, *.yml, recursive; "
                  "default: the whole repository). A folder missing at the commit is an error")
      ->group(kGroup);
  command
      .add_option("--cache-dir", flags.cache_dir,
                  "Where bare cache repositories are kept, one per remote URL (default: "
                  "${XDG_CACHE_HOME:-~/.cache}/jobsync/git)")
      ->group(kGroup);
}

// How to authenticate to the remote and check its identity.
void AddCredentialFlags(CLI::App& command, GitFlags& flags) {
  command
      .add_option("--ssh-key", flags.ssh_key,
                  "Private SSH key file for ssh:// and scp-like URLs (ed25519 or ecdsa; "
                  "unencrypted). FILE.pub is used when present")
      ->type_name("FILE")
      ->group(kGroup);
  command
      .add_option("--known-hosts", flags.known_hosts,
                  "known_hosts file the SSH host key must be in (default: ~/.ssh/known_hosts); "
                  "unknown and changed host keys are refused")
      ->type_name("FILE")
      ->group(kGroup);
  command
      .add_flag("--insecure-ignore-host-key", flags.insecure_ignore_host_key,
                "Accept any SSH host key. Unsafe: anyone on the path can impersonate the server")
      ->group(kGroup);
  CLI::Option* token_file =
      command
          .add_option("--token-file", flags.token_file,
                      "File whose first line is the HTTPS token (sent as the password of HTTP "
                      "Basic auth; the user is the URL's, else \"git\"). Read at every fetch, so "
                      "rotated tokens are picked up. Never printed")
          ->type_name("FILE")
          ->group(kGroup);
  CLI::Option* token_env =
      command
          .add_option("--token-env", flags.token_env,
                      "Name of the environment variable holding the HTTPS token (instead of "
                      "--token-file). Never printed")
          ->type_name("VAR")
          ->group(kGroup);
  token_file->excludes(token_env);
  command
      .add_option("--ca-file", flags.ca_file,
                  "PEM file of the CAs trusted for HTTPS, replacing the system's (for servers "
                  "with a private CA)")
      ->type_name("FILE")
      ->group(kGroup);
}

}  // namespace

void AddElasticJobFlag(CLI::App& command, std::string& mode) {
  command
      .add_option("--elasticjob", mode,
                  "How DLRover ElasticJob manifests run unless their annotation "
                  "jobsync.dev/elasticjob-mode says otherwise: native (translated into jobsync's "
                  "own Jobs, no DLRover operator needed) or operator (applied as the ElasticJob "
                  "for DLRover's operator; replica changes as ScalePlans)")
      ->default_val("native")
      ->check(CLI::IsMember({"native", "operator"}))
      ->type_name("MODE")
      ->group("Manifests");
}

ElasticJobMode ToElasticJobMode(const std::string& flag) {
  return ParseElasticJobMode(flag).value_or(ElasticJobMode::kNative);
}

void AddGitFlags(CLI::App& command, GitFlags& flags, bool repo_required) {
  AddRepoFlags(command, flags, repo_required);
  AddCredentialFlags(command, flags);
  AddElasticJobFlag(command, flags.elasticjob);
  command
      .add_option("--git-timeout", flags.timeout_seconds,
                  "Seconds one network operation (checking the ref, fetching) may take, "
                  "connection included; past it the operation is stopped and reported")
      ->default_val(60)
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS")
      ->group(kGroup);
}

GitSourceOptions ToGitSourceOptions(const GitFlags& flags) {
  GitSourceOptions options;
  options.repo = flags.repo;
  options.branch = flags.branch;
  options.tag = flags.tag;
  options.rev = flags.rev;
  options.path = flags.path;
  options.cache_root = flags.cache_dir;
  options.elasticjob_mode = ToElasticJobMode(flags.elasticjob);
  options.clusters = flags.clusters;
  options.credentials.ssh_key_file = flags.ssh_key;
  options.credentials.known_hosts_file = flags.known_hosts;
  options.credentials.insecure_ignore_host_key = flags.insecure_ignore_host_key;
  options.credentials.token_file = flags.token_file;
  options.credentials.token_env = flags.token_env;
  options.credentials.ca_file = flags.ca_file;
  options.network_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(flags.timeout_seconds * 1000.0));
  return options;
}

}  // namespace jobsync
