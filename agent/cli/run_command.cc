#include "agent/cli/run_command.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <malloc.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "agent/cli/agent_parts.h"
#include "agent/cli/cli.h"
#include "agent/cli/config.h"
#include "agent/cli/wiring.h"
#include "agent/git/git_source.h"
#include "agent/server/http_server.h"
#include "agent/server/jobs_api.h"
#include "agent/server/status_page.h"
#include "agent/server/webhook.h"
#include "agent/sync/instrumented_backend.h"
#include "agent/sync/notifier.h"
#include "agent/sync/reconciler.h"
#include "backends/http_client.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/process_metrics.h"
#include "schemas/k8s_names.h"

namespace jobsync {
namespace {

// The first line of a file, for secrets kept in files.
StatusOr<std::string> ReadFirstLine(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot read the " + what + " file " + path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) return InvalidArgumentError("the " + what + " file " + path + " is empty");
  return line;
}

// At most two malloc arenas, unless the environment chooses (MALLOC_ARENA_MAX, or arena_max in
// GLIBC_TUNABLES). glibc's default is eight per core, and the agent's threads (the HTTP client's
// pool of 40, the watches, the apply lanes, the server) spread over all of them; each arena keeps
// freed memory of its own that malloc_trim cannot return. At 10,000 jobs two arenas hold 19 MB
// less resident memory for the same live heap, no slower (bench/RESULTS.md, "Fewer arenas, a
// leaner watch cache").
// Before any thread starts: an arena is bound to a thread at its first allocation.
void LimitMallocArenas() {
#ifdef __GLIBC__
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr ||
      (tunables != nullptr && std::strstr(tunables, "arena_max") != nullptr)) {
    return;
  }
  mallopt(M_ARENA_MAX, 2);
#endif
}

std::string DefaultIdentity() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");
  return std::string(host) + "_" + std::to_string(getpid());
}

// Takes SIGTERM and SIGINT on a thread of its own. The constructor blocks them in this thread,
// and so in every thread started after it (cpprestsdk's pool, the watcher, the server): make it
// before anything starts a thread, or the signal may land in a thread that does not block it and
// end the process. Start() begins waiting; `on_signal` is called once.
class SignalWaiter {
 public:
  SignalWaiter() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGUSR1);  // ends the waiter itself
    pthread_sigmask(SIG_BLOCK, &set_, &previous_);
  }
  void Start(std::function<void(int)> on_signal) {
    thread_ = std::thread([this, on_signal = std::move(on_signal)] {
      int signal = 0;
      sigwait(&set_, &signal);
      if (signal != SIGUSR1) on_signal(signal);
    });
  }
  // Ends the waiting thread (after which `on_signal` is not called). Idempotent.
  void Stop() {
    if (thread_.joinable()) {
      pthread_kill(thread_.native_handle(), SIGUSR1);
      thread_.join();
    }
  }
  ~SignalWaiter() {
    Stop();
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

 private:
  sigset_t set_;
  sigset_t previous_;
  std::thread thread_;
};

}  // namespace

WebhookResult RelayToLeader(WebhookResult result, const LeaderElector& elector, WakeRelay& relay) {
  if (!result.trigger || elector.is_leader()) return result;
  // A standby writes nothing: the leader must hear of the push.
  Status woken = relay.RequestWake();
  if (woken.ok()) {
    result.message += "; this replica is a standby: the leader was woken";
  } else {
    result.http_status = 503;
    result.message = "this replica is a standby and could not wake the leader: " + woken.message() +
                     "; redeliver the webhook";
  }
  LogEvent(woken.ok() ? spdlog::level::info : spdlog::level::warn, "webhook relayed",
           {{"result", result.message}});
  return result;
}

void RunCommands::Register(CLI::App& app) {
  run_ = app.add_subcommand(
      "run",
      "Run the agent: keep Kubernetes and Ray equal to a Git branch. Polls the repository every "
      "--interval (or at once on a webhook), plans, applies, heals drift, and serves /healthz, "
      "/readyz, /metrics, /api/v1/status, /api/v1/jobs (paged and filtered, with ETags) and a "
      "status page on --listen. Under --leader-elect a "
      "webhook that reaches a standby wakes the leader. Reports each commit's result as a commit "
      "status and to a chat webhook when configured (Notifications).\n"
      "Every flag can also be set in a YAML file given with --config (keys are the flag names "
      "without dashes); the command line wins.");
  AddGitFlags(*run_, git_, /*repo_required=*/false);
  AddClusterFlags(*run_, cluster_);
  AddAgentFlags();
  AddHighAvailabilityFlags();
  AddWebhookFlags();
  AddNotificationFlags();
  AddLoggingFlags();

  status_ = app.add_subcommand(
      "status",
      "Print a running agent's jobs as a table: sync state, health, replicas, the "
      "commit applied and its author, the last error.");
  status_
      ->add_option("--server", servers_,
                   "The agent's address; several (repeated) for the replicas of a sharded agent, "
                   "whose statuses are merged")
      ->capture_default_str();
  status_->add_option("-o,--output", status_output_, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
}

void RunCommands::AddAgentFlags() {
  const char* agent = "Agent";
  run_->add_option("--config", config_file_, "YAML file with settings (flag names without --)")
      ->group(agent);
  run_->add_option("--interval", interval_, "Time between polls of Git and the clusters")
      ->capture_default_str()
      ->group(agent);
  run_->add_option("--listen", listen_, "Address of the HTTP endpoints, host:port")
      ->capture_default_str()
      ->group(agent);
  run_->add_option("--drift", drift_,
                   "What to do with live changes made outside Git: heal (revert them), warn "
                   "(report them), off")
      ->check(CLI::IsMember({"heal", "warn", "off"}))
      ->capture_default_str()
      ->group(agent);
  run_->add_option("--state", state_,
                   "Where the agent remembers what it applied: a file path, or "
                   "configmap:NAMESPACE/NAME (default: a ConfigMap in the pod's namespace when "
                   "running in Kubernetes, else ~/.local/state/jobsync/<instance>.state.json)")
      ->group(agent);
  run_->add_option("--dependency-timeout", dependency_timeout_,
                   "How long a job waits for its dependsOn jobs to become Healthy")
      ->capture_default_str()
      ->group(agent);
  run_->add_option("--backend-timeout", backend_timeout_,
                   "How long a cluster may take to answer a listing, or to finish its next step "
                   "while applying, before the cycle reports it unavailable, holds its jobs and "
                   "goes on with the other clusters (a call in flight is left to return)")
      ->capture_default_str()
      ->group(agent);
  run_->add_option("--sync-timeout", sync_timeout_,
                   "How long one cycle may spend applying; steps not finished by then are "
                   "planned again by the next cycle")
      ->capture_default_str()
      ->group(agent);
  run_->add_flag("--once", once_, "Run one cycle and exit: 0 in sync, 1 not in sync, 2 error")
      ->group(agent);
}

void RunCommands::AddHighAvailabilityFlags() {
  const char* ha = "High availability";
  run_->add_flag("--leader-elect", leader_elect_,
                 "Elect a leader among replicas through a coordination.k8s.io Lease; only the "
                 "leader writes")
      ->group(ha);
  run_->add_option("--lease-namespace", lease_namespace_,
                   "Namespace of the Lease (default: the pod's namespace, else default)")
      ->group(ha);
  run_->add_option("--lease-name", lease_name_, "Name of the Lease (default: jobsync-<instance>)")
      ->group(ha);
  run_->add_option("--lease-duration", lease_duration_,
                   "How long a dead leader's Lease holds before a standby takes over")
      ->capture_default_str()
      ->group(ha);
  run_->add_option("--identity", identity_, "This replica's name in the Lease (default: host_pid)")
      ->group(ha);
  run_->add_option("--shard", shard_,
                   "INDEX/COUNT: this replica owns shard INDEX of COUNT (jobs by namespace, or "
                   "their jobsync.dev/shard label) and stands in for the others' dead replicas; "
                   "a Lease per shard (<lease name>-shard-<i>)")
      ->group(ha);
}

void RunCommands::AddWebhookFlags() {
  const char* hooks = "Webhooks";
  run_->add_option("--webhook-secret-file", webhook_secret_file_,
                   "File holding the webhook secret: the HMAC key of /hooks/github, /hooks/gitea "
                   "(Gitea, Forgejo), /hooks/bitbucket (Cloud, Server) and /hooks/generic; the "
                   "token of /hooks/gitlab")
      ->group(hooks);
  run_->add_option("--webhook-secret-env", webhook_secret_env_,
                   "Environment variable holding the webhook secret, when no file is given")
      ->capture_default_str()
      ->group(hooks);
}

void RunCommands::AddNotificationFlags() {
  const char* notify = "Notifications";
  run_->add_option("--status-provider", status_provider_,
                   "Report each commit's sync result as a commit status on this Git host: github "
                   "or gitlab (default: off)")
      ->check(CLI::IsMember({"github", "gitlab"}))
      ->group(notify);
  run_->add_option("--status-api-url", status_api_url_,
                   "API base URL of the Git host (default https://api.github.com or "
                   "https://gitlab.com/api/v4; GitHub Enterprise: https://HOST/api/v3)")
      ->group(notify);
  run_->add_option("--status-repo", status_repo_,
                   "Repository of the commit statuses: owner/repo on GitHub, the project id or "
                   "group/project on GitLab")
      ->group(notify);
  run_->add_option("--status-token-file", status_token_file_,
                   "File holding the API token (GitHub: repo:status or statuses write; GitLab: api "
                   "scope)")
      ->group(notify);
  run_->add_option("--status-context", status_context_,
                   "Context (GitHub) or name (GitLab) of the status (default jobsync/<instance>)")
      ->group(notify);
  run_->add_option("--status-target-url", status_target_url_,
                   "Link shown with the status, e.g. the agent's status page")
      ->group(notify);
  run_->add_option("--status-ca-file", status_ca_file_,
                   "PEM CA certificates to trust for the Git host's API (default: the system's)")
      ->group(notify);
  run_->add_option("--notify-webhook-url-file", notify_webhook_url_file_,
                   "File holding a URL to POST a JSON message to (Slack-compatible \"text\") for "
                   "each commit's sync result and each job that becomes Degraded or Failed")
      ->group(notify);
}

void RunCommands::AddLoggingFlags() {
  const char* logs = "Logging";
  run_->add_option("--log-format", log_format_, "text, or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str()
      ->group(logs);
  run_->add_option("--log-level", log_level_, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str()
      ->group(logs);
}

std::optional<int> RunCommands::RunParsed(std::ostream& out, std::ostream& err) {
  if (run_ != nullptr && run_->parsed()) return RunAgent(out, err);
  if (status_ != nullptr && status_->parsed()) return RunStatus(out, err);
  return std::nullopt;
}

int RunCommands::RunAgent(std::ostream& out, std::ostream& err) {
  (void)out;
  auto fail = [&](const Status& status) {
    err << "jobsync run: " << status.message() << "\n";
    return kExitError;
  };
  LimitMallocArenas();
  SignalWaiter signals;  // first: before any thread exists
  StatusOr<RunSettings> settings = Configure();
  if (!settings.ok()) return fail(settings.status());
  AgentParts parts;
  Status built = BuildAgent(*settings, parts);
  if (!built.ok()) return fail(built);

  signals.Start([&parts](int signal) {
    spdlog::info("{} received: stopping after the step in flight",
                 signal == SIGTERM ? "SIGTERM" : "SIGINT");
    if (parts.shards) {
      parts.shards->Stop();
    } else {
      parts.reconciler->Stop();
    }
  });
  // The waiter's callback uses the reconciler: it stops before the reconciler goes.
  struct WaiterStopper {
    SignalWaiter& waiter;
    ~WaiterStopper() { waiter.Stop(); }
  } waiter_stopper{signals};
  if (once_) {
    if (parts.election || parts.shards) {
      return fail(InvalidArgumentError("--once goes with neither --leader-elect nor --shard"));
    }
    Status result = parts.reconciler->SyncOnce();
    if (parts.notifier) parts.notifier->Drain(std::chrono::seconds(30));
    if (result.ok()) return kExitOk;
    err << "jobsync run: not in sync: " << result.message() << "\n";
    return kExitChanges;
  }
  Status served = Serve(parts);
  if (!served.ok()) return fail(served);
  spdlog::info("stopped");
  return kExitOk;
}

StatusOr<RunCommands::RunSettings> RunCommands::Configure() {
  if (!config_file_.empty()) JOBSYNC_RETURN_IF_ERROR(ApplyConfigFile(config_file_, *run_));
  if (git_.repo.empty()) {
    return InvalidArgumentError("no repository: give --repo, or repo: in the --config file");
  }
  JOBSYNC_RETURN_IF_ERROR(ResolveClusters(cluster_));
  git_.clusters = ClusterNamesOf(cluster_);
  JOBSYNC_RETURN_IF_ERROR(SetUpLogging(log_format_, log_level_));
  RunSettings settings;
  const std::pair<const char*, const std::string*> flags[] = {
      {"--interval", &interval_},
      {"--lease-duration", &lease_duration_},
      {"--dependency-timeout", &dependency_timeout_},
      {"--backend-timeout", &backend_timeout_},
      {"--sync-timeout", &sync_timeout_}};
  std::chrono::milliseconds* parsed[] = {&settings.interval, &settings.lease_duration,
                                         &settings.dependency_timeout, &settings.backend_timeout,
                                         &settings.sync_timeout};
  for (size_t i = 0; i < std::size(flags); ++i) {
    StatusOr<std::chrono::milliseconds> duration = ParseDuration(*flags[i].second);
    if (!duration.ok()) {
      return Status(duration.status().code(),
                    std::string(flags[i].first) + ": " + duration.status().message());
    }
    *parsed[i] = *duration;
  }
  if (settings.interval.count() < 100) {
    return InvalidArgumentError("--interval must be at least 100ms");
  }
  if (settings.backend_timeout.count() < 100 || settings.sync_timeout.count() < 100) {
    return InvalidArgumentError("--backend-timeout and --sync-timeout must be at least 100ms");
  }
  return settings;
}

StatusOr<std::string> RunCommands::ReadSecrets() const {
  std::string webhook_secret;
  if (!webhook_secret_file_.empty()) {
    StatusOr<std::string> secret = ReadFirstLine(webhook_secret_file_, "webhook secret");
    if (!secret.ok()) return secret.status();
    webhook_secret = *secret;
  } else if (const char* value = std::getenv(webhook_secret_env_.c_str()); value != nullptr) {
    webhook_secret = value;
  }
  RegisterSecret(webhook_secret);
  if (StatusOr<std::string> token = ReadGitToken(ToGitSourceOptions(git_).credentials);
      token.ok()) {
    RegisterSecret(*token);
  }
  return webhook_secret;
}

Status RunCommands::BuildAgent(const RunSettings& settings, AgentParts& parts) {
  // Secrets: read once, registered so that no log line can carry them.
  StatusOr<std::string> webhook_secret = ReadSecrets();
  if (!webhook_secret.ok()) return webhook_secret.status();
  parts.webhook_secret = *webhook_secret;
  // What runs, and its CPU, memory and descriptors (read at each scrape: Handlers).
  DeclareProcessMetrics(parts.metrics);
  RecordBuildInfo(parts.metrics);
  StatusOr<NotifierOptions> notify = NotifierFromFlags();
  if (!notify.ok()) return notify.status();
  StatusOr<std::unique_ptr<GitSource>> git =
      NewGitSource(ToGitSourceOptions(git_), parts.validator);
  if (!git.ok()) return git.status();
  parts.git = std::move(*git);
  ConnectBackends(parts);
  if (!shard_.empty()) {
    JOBSYNC_RETURN_IF_ERROR(StartNotifier(*notify, parts));
    return BuildShards(settings, parts);
  }
  // State: a file, or a ConfigMap (the default inside Kubernetes, where disks are not kept).
  StatusOr<std::unique_ptr<StateStore>> store =
      OpenStateStore(state_, cluster_.instance, PodNamespace(), parts.clusters);
  if (!store.ok()) return store.status();
  parts.store = std::move(*store);
  JOBSYNC_RETURN_IF_ERROR(StartNotifier(*notify, parts));
  if (leader_elect_) JOBSYNC_RETURN_IF_ERROR(BuildElection(settings, parts));
  return BuildReconciler(settings, parts);
}

Status RunCommands::StartNotifier(const NotifierOptions& notify, AgentParts& parts) const {
  // Notifications go out on a thread of their own; off unless configured.
  if (notify.api_url.empty() && notify.webhook_url.empty()) return OkStatus();
  parts.notifier = std::make_unique<HttpNotifier>(notify, parts.metrics);
  return parts.notifier->Start();
}

void RunCommands::ConnectBackends(AgentParts& parts) const {
  DeclareBackendMetrics(parts.metrics);
  parts.clusters = ConnectClusters(cluster_, &parts.metrics);
  for (Backend* backend : parts.clusters.built()) {
    parts.wrapped.push_back(std::make_unique<InstrumentedBackend>(*backend, parts.metrics,
                                                                  DefaultClusterName(cluster_)));
    parts.backends.push_back(parts.wrapped.back().get());
  }
  for (const auto& [target, status] : parts.clusters.unconfigured) {
    spdlog::warn("{} backend not configured: {}", target.ToString(), status.message());
  }
}

StatusOr<ElectionSettings> RunCommands::ElectionSettingsFor(const RunSettings& settings) const {
  const std::string pod_namespace = PodNamespace();
  ElectionSettings election;
  election.namespace_name = !lease_namespace_.empty() ? lease_namespace_
                            : !pod_namespace.empty()  ? pod_namespace
                                                      : "default";
  election.lease_name = lease_name_.empty() ? "jobsync-" + cluster_.instance : lease_name_;
  // A Lease name is a DNS-1123 subdomain; an instance name is a label value, which may hold
  // upper-case letters and '_'.
  if (std::string problem = CheckDns1123Subdomain(election.lease_name); !problem.empty()) {
    return InvalidArgumentError(
        "the Lease name '" + election.lease_name + "' " + problem +
        (lease_name_.empty() ? "; it derives from --instance: pass --lease-name" : ""));
  }
  election.identity = identity_.empty() ? DefaultIdentity() : identity_;
  election.lease_duration = settings.lease_duration;
  return election;
}

Status RunCommands::BuildElection(const RunSettings& settings, AgentParts& parts) const {
  JOBSYNC_RETURN_IF_ERROR(
      RequireKubernetes(parts.clusters, "--leader-elect needs a Kubernetes cluster for its Lease"));
  StatusOr<ElectionSettings> made_settings = ElectionSettingsFor(settings);
  if (!made_settings.ok()) return made_settings.status();
  const ElectionSettings& election = *made_settings;
  auto on_change = [&parts, identity = election.identity](bool leader) {
    LogEvent(spdlog::level::info, leader ? "became leader" : "not leader",
             {{"identity", identity}});
    if (leader && parts.reconciler) parts.reconciler->Trigger("became leader");
  };
  auto on_wake = [&parts](const std::string& request) {
    if (parts.election->elector->is_leader() && parts.reconciler) {
      parts.reconciler->Trigger("webhook received by a standby (" + request + ")");
    }
  };
  StatusOr<std::unique_ptr<Election>> made =
      NewElection(cluster_, parts.clusters, election, on_change, on_wake);
  if (!made.ok()) return made.status();
  parts.election = std::move(*made);
  return OkStatus();
}

ReconcilerOptions RunCommands::ReconcilerOptionsFor(const RunSettings& settings,
                                                    AgentParts& parts) const {
  ReconcilerOptions options;
  options.plan = ToPlanOptions(cluster_);
  options.default_cluster = DefaultClusterName(cluster_);
  options.plan.drift = *ParseDriftPolicy(drift_);
  // A create's fields are its manifest: the agent shows only their summary (logs, Events, and
  // a status without them), so it keeps no more of them (bench/RESULTS.md, "One parsed system
  // trust store, fewer pool threads, a smaller first sync").
  options.plan.whole_job_changes = kSummarizedChanges + 1;
  options.interval = settings.interval;
  options.executor.dependency_timeout = settings.dependency_timeout;
  options.backend_timeout = settings.backend_timeout;
  options.sync_timeout = settings.sync_timeout;
  options.branch = git_.branch.empty() ? git_.tag : git_.branch;
  options.path = git_.path;
  options.notifier = parts.notifier.get();
  options.shared_specs = parts.clusters.specs;
  return options;
}

Status RunCommands::BuildReconciler(const RunSettings& settings, AgentParts& parts) const {
  ReconcilerOptions options = ReconcilerOptionsFor(settings, parts);
  if (parts.election) {
    options.may_write = [&parts] { return parts.election->elector->is_leader(); };
  }
  parts.reconciler =
      std::make_unique<Reconciler>(*parts.git, parts.backends, parts.clusters.unconfigured,
                                   *parts.store, parts.metrics, options);
  // Live changes seen by the watch wake the loop; ~AgentParts removes the listener (and no call
  // of it is then in flight) before the reconciler goes.
  for (LiveChangeSource* source : parts.clusters.live_changes) {
    source->SetChangeListener([&parts] { parts.reconciler->LiveChanged(); });
  }
  return parts.reconciler->Start();
}

HttpHandlers RunCommands::Handlers(AgentParts& parts) const {
  std::string watched_ref = !git_.branch.empty() ? "refs/heads/" + git_.branch
                            : !git_.tag.empty()  ? "refs/tags/" + git_.tag
                                                 : "";
  HttpHandlers handlers;
  handlers.metrics = [&parts] {
    UpdateProcessMetrics(parts.metrics);
    return parts.shards ? parts.shards->RenderMetrics(parts.metrics) : parts.metrics.Render();
  };
  handlers.status = [&parts] {
    if (parts.shards) return parts.shards->StatusJson().dump();
    nlohmann::json extra = nlohmann::json::object();
    if (parts.election) {
      const LeaderElector& elector = *parts.election->elector;
      extra["leaderElection"] = {{"leader", elector.is_leader()}, {"holder", elector.holder()}};
    }
    return parts.reconciler->StatusText(extra);
  };
  JobsSource jobs_source;
  jobs_source.version = [&parts] {
    if (parts.shards) return parts.shards->StatusVersion();
    std::string version = std::to_string(parts.reconciler->StatusRevision());
    if (parts.election) {
      const LeaderElector& elector = *parts.election->elector;
      version += std::string(elector.is_leader() ? ":leader:" : ":standby:") + elector.holder();
    }
    return version;
  };
  jobs_source.status = handlers.status;
  jobs_source.detail = [&parts](const std::string& key) {
    return parts.shards ? parts.shards->JobDetail(key) : parts.reconciler->JobDetail(key);
  };
  auto jobs_api = std::make_shared<JobsApi>(std::move(jobs_source));
  jobs_api->Warm(std::chrono::milliseconds(250));
  handlers.jobs = [api = std::move(jobs_api)](const ApiRequest& request) {
    return api->Serve(request);
  };
  handlers.ready = [&parts] {
    return parts.shards ? parts.shards->Ready() : parts.reconciler->Ready();
  };
  handlers.index_html = [] { return std::string(kStatusPageHtml); };
  // Forgeries are answered (and logged) here, before the server's rate limit.
  handlers.webhook_authenticate =
      [&parts](WebhookKind kind, const std::function<std::string(std::string_view)>& header,
               std::string_view body) -> std::optional<WebhookResult> {
    std::optional<WebhookResult> rejected =
        AuthenticateWebhook(kind, header, body, parts.webhook_secret);
    if (!rejected) return std::nullopt;
    return OnWebhook(parts, *std::move(rejected), kind);
  };
  handlers.webhook = [&parts, watched_ref](
                         WebhookKind kind,
                         const std::function<std::string(std::string_view)>& header,
                         std::string_view body) {
    return OnWebhook(parts, HandleWebhook(kind, header, body, parts.webhook_secret, watched_ref),
                     kind);
  };
  return handlers;
}

WebhookResult RunCommands::OnWebhook(AgentParts& parts, WebhookResult result, WebhookKind kind) {
  LogEvent(result.http_status == 401 ? spdlog::level::warn : spdlog::level::info, "webhook",
           {{"kind", WebhookKindName(kind)},
            {"status", std::to_string(result.http_status)},
            {"result", result.message}});
  if (!result.trigger) return result;
  if (parts.shards) return TriggerShards(std::move(result), *parts.shards, kind);
  parts.reconciler->Trigger(std::string("webhook ") + WebhookKindName(kind));
  if (!parts.election) return result;
  return RelayToLeader(std::move(result), *parts.election->elector, *parts.election->relay);
}

Status RunCommands::Serve(AgentParts& parts) const {
  HttpServerOptions server_options;
  server_options.listen = listen_;
  AgentHttpServer server(server_options, Handlers(parts));
  JOBSYNC_RETURN_IF_ERROR(server.Start());
  if (parts.election) {
    JOBSYNC_RETURN_IF_ERROR(parts.election->elector->Start());
    JOBSYNC_RETURN_IF_ERROR(parts.election->relay->Start());
  }
  if (parts.shards) JOBSYNC_RETURN_IF_ERROR(parts.shards->Start());
  LogEvent(spdlog::level::info, "agent started",
           {{"instance", cluster_.instance},
            {"repo", parts.git->display_url()},
            {"listen", listen_},
            {"interval", interval_},
            {"drift", drift_},
            {"prune", cluster_.prune ? "true" : "false"},
            {"state", parts.store ? parts.store->Describe() : "per shard"}});
  if (parts.shards) {
    parts.shards->Wait();
  } else {
    parts.reconciler->Run();
  }
  if (parts.election) {
    parts.election->relay->Stop();
    parts.election->elector->Stop();
  }
  server.Stop();
  if (parts.notifier) parts.notifier->Stop();
  return OkStatus();
}

StatusOr<NotifierOptions> RunCommands::NotifierFromFlags() const {
  NotifierOptions options;
  options.instance = cluster_.instance;
  if (!status_provider_.empty()) {
    options.provider = *ParseCommitStatusProvider(status_provider_);
    options.api_url = status_api_url_.empty() ? DefaultApiUrl(options.provider) : status_api_url_;
    options.repository = status_repo_;
    if (status_token_file_.empty()) {
      return InvalidArgumentError("--status-provider " + status_provider_ +
                                  " needs --status-token-file, a file holding the API token");
    }
    StatusOr<std::string> token = ReadFirstLine(status_token_file_, "status token");
    if (!token.ok()) return token.status();
    options.token = *token;
    RegisterSecret(options.token);
    options.context = status_context_.empty() ? "jobsync/" + cluster_.instance : status_context_;
    options.target_url = status_target_url_;
    if (!status_ca_file_.empty()) {
      std::ifstream in(status_ca_file_);
      if (!in) return NotFoundError("cannot read the --status-ca-file " + status_ca_file_);
      std::stringstream pem;
      pem << in.rdbuf();
      options.ca_pem = pem.str();
    }
  } else if (!status_repo_.empty() || !status_token_file_.empty() || !status_api_url_.empty() ||
             !status_context_.empty() || !status_target_url_.empty() || !status_ca_file_.empty()) {
    return InvalidArgumentError(
        "--status-repo, --status-token-file, --status-api-url, --status-context, "
        "--status-target-url and --status-ca-file need --status-provider (github or gitlab)");
  }
  if (!notify_webhook_url_file_.empty()) {
    StatusOr<std::string> url = ReadFirstLine(notify_webhook_url_file_, "notification webhook URL");
    if (!url.ok()) return url.status();
    options.webhook_url = *url;
    RegisterSecret(options.webhook_url);
  }
  return options;
}

}  // namespace jobsync
