#include "backends/kubernetes/exec_credential.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <thread>

#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;  // NOLINT(readability-redundant-declaration): the plugin's environment

namespace jobsync {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kV1 = "client.authentication.k8s.io/v1";
constexpr const char* kV1beta1 = "client.authentication.k8s.io/v1beta1";
constexpr size_t kMaxOutputBytes = size_t{1} << 20;  // an answer is a few KiB
constexpr size_t kMaxQuotedStderr = 600;

std::string StringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(data.data()),
                                      static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(written));
  return out;
}

// `err` on one line, at most kMaxQuotedStderr characters, for a message.
std::string Shorten(std::string_view err) {
  std::string out;
  for (char c : err) {
    if (c == '\r') continue;
    if (c == '\n') {
      if (!out.empty() && out.back() != ' ') out += " | ";
      continue;
    }
    out.push_back(c);
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == '|')) out.pop_back();
  if (out.size() > kMaxQuotedStderr) out = out.substr(0, kMaxQuotedStderr) + " [...]";
  return out.empty() ? "nothing on stderr" : "stderr: " + out;
}

// The file `command` runs: itself when it holds a '/', else the first executable of that name in
// $PATH. Empty when there is none.
std::string Resolve(const std::string& command, const std::string& path_variable) {
  if (command.find('/') != std::string::npos) {
    return access(command.c_str(), X_OK) == 0 ? command : "";
  }
  std::string_view rest = path_variable;
  while (true) {
    const size_t colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + command;
    if (access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate;
    if (colon == std::string_view::npos) return "";
    rest.remove_prefix(colon + 1);
  }
}

// The process environment with `extra` set over it, as "NAME=value" strings.
std::vector<std::string> Environment(
    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::map<std::string, std::string> values;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    const size_t equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    values[std::string(text.substr(0, equals))] = std::string(text.substr(equals + 1));
  }
  for (const auto& [name, value] : extra) values[name] = value;
  std::vector<std::string> out;
  out.reserve(values.size());
  for (const auto& [name, value] : values) out.push_back(name + "=" + value);
  return out;
}

json ExecInfo(const ExecConfig& config) {
  json spec = {{"interactive", false}};
  if (config.provide_cluster_info) spec["cluster"] = config.cluster;
  return {{"apiVersion", config.api_version}, {"kind", "ExecCredential"}, {"spec", spec}};
}

// Reads `out_fd` and `err_fd` until both end or `deadline` passes; false on the deadline.
bool Drain(int out_fd, int err_fd, std::chrono::steady_clock::time_point deadline, PluginRun* run) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&run->out, &run->err};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    const int ready = poll(fds, 2, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return false;
    if (ready < 0) return true;  // cannot wait any more: take what was read
    for (size_t i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char chunk[4096];
      const ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      if (sinks[i]->size() < kMaxOutputBytes) sinks[i]->append(chunk, static_cast<size_t>(n));
    }
  }
  return true;
}

// Waits for `pid` until `deadline`, then kills its process group; returns the exit code (128 +
// signal when killed).
int Reap(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  int status = 0;
  bool killed = false;
  while (true) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
    if (!killed && std::chrono::steady_clock::now() >= deadline) {
      kill(-pid, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// Starts `binary` with `argv` and `envp`, stdin from /dev/null, stdout and stderr to the
// given pipe ends, in its own process group, with no blocked signals.
int Spawn(const std::string& binary, std::vector<char*>& argv, std::vector<char*>& envp, int out_fd,
          int err_fd, pid_t* pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  // The agent blocks SIGTERM and SIGINT in its threads to take them with sigwait; the plugin
  // starts with an empty mask. Its own process group lets a timeout stop its children too.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attributes, &empty);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  const int rc = posix_spawn(pid, binary.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  return rc;
}

}  // namespace

StatusOr<ExecConfig> ParseExecConfig(const json& exec, const std::string& user,
                                     const std::string& kubeconfig, const std::string& base) {
  const std::string where = kubeconfig + ": users[" + user + "].user.exec";
  if (!exec.is_object()) return InvalidArgumentError(where + " is not a mapping");
  ExecConfig out;
  out.user = user;
  out.kubeconfig = kubeconfig;
  out.command = StringAt(exec, "command");
  if (out.command.empty()) return InvalidArgumentError(where + ".command is missing");
  if (out.command.find('/') != std::string::npos && fs::path(out.command).is_relative()) {
    out.command = (fs::path(base) / out.command).lexically_normal().string();
  }
  out.api_version = StringAt(exec, "apiVersion");
  if (out.api_version != kV1 && out.api_version != kV1beta1) {
    return InvalidArgumentError(where + ".apiVersion " +
                                (out.api_version.empty()
                                     ? std::string("is missing")
                                     : "\"" + out.api_version + "\" is not supported") +
                                ": use " + kV1 + " or " + kV1beta1);
  }
  if (auto args = exec.find("args"); args != exec.end() && !args->is_null()) {
    if (!args->is_array()) return InvalidArgumentError(where + ".args is not a list");
    for (const json& arg : *args) {
      if (!arg.is_string()) return InvalidArgumentError(where + ".args holds a non-string");
      out.args.push_back(arg.get<std::string>());
    }
  }
  if (auto env = exec.find("env"); env != exec.end() && !env->is_null()) {
    if (!env->is_array()) return InvalidArgumentError(where + ".env is not a list");
    for (const json& entry : *env) {
      const std::string name = entry.is_object() ? StringAt(entry, "name") : "";
      if (name.empty()) return InvalidArgumentError(where + ".env has an entry without name");
      out.env.emplace_back(name, StringAt(entry, "value"));
    }
  }
  out.install_hint = StringAt(exec, "installHint");
  auto cluster_info = exec.find("provideClusterInfo");
  out.provide_cluster_info =
      cluster_info != exec.end() && cluster_info->is_boolean() && cluster_info->get<bool>();
  out.interactive_mode = StringAt(exec, "interactiveMode");
  if (out.interactive_mode.empty()) {
    if (out.api_version == kV1) {
      return InvalidArgumentError(where + ".interactiveMode is required by " + kV1 +
                                  ": set it to Never or IfAvailable");
    }
    out.interactive_mode = "IfAvailable";
  }
  if (out.interactive_mode == "Always") {
    return InvalidArgumentError(
        where +
        ".interactiveMode is Always, but jobsync runs without a terminal and never runs a "
        "plugin interactively: use a plugin mode that needs no prompt (interactiveMode Never "
        "or IfAvailable), e.g. a service principal or workload identity login");
  }
  if (out.interactive_mode != "Never" && out.interactive_mode != "IfAvailable") {
    return InvalidArgumentError(where + ".interactiveMode \"" + out.interactive_mode +
                                "\" is not one of Never, IfAvailable, Always");
  }
  return out;
}

json ExecClusterJson(const json& cluster, const std::string& ca_pem) {
  json out = json::object();
  for (const char* key : {"server", "tls-server-name", "proxy-url"}) {
    const std::string value = StringAt(cluster, key);
    if (!value.empty()) out[key] = value;
  }
  auto insecure = cluster.find("insecure-skip-tls-verify");
  if (insecure != cluster.end() && insecure->is_boolean())
    out["insecure-skip-tls-verify"] = *insecure;
  if (!ca_pem.empty()) out["certificate-authority-data"] = Base64(ca_pem);
  auto extensions = cluster.find("extensions");
  if (extensions != cluster.end() && extensions->is_array()) {
    for (const json& extension : *extensions) {
      if (extension.is_object() &&
          StringAt(extension, "name") == "client.authentication.k8s.io/exec" &&
          extension.contains("extension")) {
        out["config"] = extension["extension"];
      }
    }
  }
  return out;
}

std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text) {
  std::tm parts{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, consumed = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &year, &month, &day, &hour,
                  &minute, &second, &consumed) != 6) {
    return std::nullopt;
  }
  std::string_view rest = text.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') rest.remove_prefix(1);
  }
  int offset_seconds = 0;
  if (rest == "Z" || rest == "z") {
    offset_seconds = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int offset_hours = 0, offset_minutes = 0;
    if (std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &offset_hours,
                    &offset_minutes) != 2) {
      return std::nullopt;
    }
    offset_seconds = (offset_hours * 3600 + offset_minutes * 60) * (rest[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  const time_t utc = timegm(&parts);
  return std::chrono::system_clock::from_time_t(utc - offset_seconds);
}

StatusOr<ExecAnswer> ParseExecAnswer(std::string_view output, const ExecConfig& config) {
  const std::string who = "exec plugin \"" + config.command + "\" of user \"" + config.user +
                          "\" in " + config.kubeconfig;
  const std::string unseen = " (its output is not shown: it may hold credentials)";
  const json parsed = json::parse(output, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return PermissionDeniedError(who + " printed " + std::to_string(output.size()) +
                                 " bytes that are not a JSON ExecCredential object" + unseen);
  }
  const std::string api_version = StringAt(parsed, "apiVersion");
  if (api_version != config.api_version || StringAt(parsed, "kind") != "ExecCredential") {
    return PermissionDeniedError(who + " answered apiVersion \"" + api_version + "\" kind \"" +
                                 StringAt(parsed, "kind") + "\", expected " + config.api_version +
                                 " ExecCredential as the kubeconfig's exec.apiVersion says");
  }
  auto status = parsed.find("status");
  if (status == parsed.end() || !status->is_object()) {
    return PermissionDeniedError(who + " answered an ExecCredential without status" + unseen);
  }
  ExecAnswer out;
  out.credential.bearer_token = StringAt(*status, "token");
  out.credential.client_cert_pem = StringAt(*status, "clientCertificateData");
  out.credential.client_key_pem = StringAt(*status, "clientKeyData");
  if (out.credential.client_cert_pem.empty() != out.credential.client_key_pem.empty()) {
    return PermissionDeniedError(who +
                                 " answered status.clientCertificateData without "
                                 "status.clientKeyData or the other way round" +
                                 unseen);
  }
  if (out.credential.bearer_token.empty() && out.credential.client_cert_pem.empty()) {
    return PermissionDeniedError(who +
                                 " answered neither status.token nor "
                                 "status.clientCertificateData and status.clientKeyData" +
                                 unseen);
  }
  const std::string expiry = StringAt(*status, "expirationTimestamp");
  if (!expiry.empty()) {
    out.expiry = ParseRfc3339(expiry);
    if (!out.expiry) {
      return PermissionDeniedError(who + " answered status.expirationTimestamp \"" + expiry +
                                   "\", which is not an RFC 3339 time");
    }
  }
  return out;
}

StatusOr<PluginRun> RunExecPlugin(const ExecConfig& config, std::chrono::milliseconds timeout) {
  const std::string who = "exec plugin of user \"" + config.user + "\" in " + config.kubeconfig;
  const char* path_variable = std::getenv("PATH");
  const std::string path =
      path_variable == nullptr ? "/usr/local/bin:/usr/bin:/bin" : path_variable;
  const std::string binary = Resolve(config.command, path);
  if (binary.empty()) {
    std::string message =
        who + ": command \"" + config.command + "\" was not found" +
        (config.command.find('/') != std::string::npos ? std::string(" or is not executable")
                                                       : " in $PATH (" + path + ")");
    if (!config.install_hint.empty()) message += "; " + config.install_hint;
    return FailedPreconditionError(message);
  }
  std::vector<std::pair<std::string, std::string>> extra = config.env;
  extra.emplace_back("KUBERNETES_EXEC_INFO", ExecInfo(config).dump());
  std::vector<std::string> env_strings = Environment(extra);
  std::vector<std::string> arg_strings = {config.command};
  arg_strings.insert(arg_strings.end(), config.args.begin(), config.args.end());
  std::vector<char*> argv, envp;
  for (std::string& arg : arg_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return InternalError(who + ": pipe: " + strerror(errno));
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return InternalError(who + ": pipe: " + strerror(errno));
  }
  pid_t pid = 0;
  const int rc = Spawn(binary, argv, envp, out_pipe[1], err_pipe[1], &pid);
  close(out_pipe[1]);
  close(err_pipe[1]);
  PluginRun run;
  if (rc == 0) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    run.timed_out = !Drain(out_pipe[0], err_pipe[0], deadline, &run);
    run.exit_code = Reap(pid, run.timed_out ? std::chrono::steady_clock::now() : deadline);
  }
  close(out_pipe[0]);
  close(err_pipe[0]);
  if (rc != 0) {
    return FailedPreconditionError(who + ": cannot start \"" + binary + "\": " + strerror(rc));
  }
  return run;
}

ExecCredentialSource::ExecCredentialSource(ExecConfig config, ExecOptions options)
    : config_(std::move(config)), options_(std::move(options)) {}

std::chrono::system_clock::time_point ExecCredentialSource::Now() const {
  return options_.clock ? options_.clock() : std::chrono::system_clock::now();
}

std::string ExecCredentialSource::Describe() const {
  return "exec plugin \"" + config_.command + "\" of user \"" + config_.user + "\" in " +
         config_.kubeconfig;
}

int ExecCredentialSource::runs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return runs_;
}

StatusOr<ExecAnswer> ExecCredentialSource::Run() {
  ++runs_;
  StatusOr<PluginRun> run = RunExecPlugin(config_, options_.timeout);
  if (!run.ok()) return run.status();
  if (run->timed_out) {
    return DeadlineExceededError(Describe() + " did not finish within " +
                                 std::to_string(options_.timeout.count()) + " ms and was killed; " +
                                 Shorten(run->err));
  }
  if (run->exit_code != 0) {
    return PermissionDeniedError(Describe() + " failed with exit status " +
                                 std::to_string(run->exit_code) + "; " + Shorten(run->err));
  }
  return ParseExecAnswer(run->out, config_);
}

StatusOr<HttpCredential> ExecCredentialSource::Current() {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = Now();
  if (cached_ && now < renew_at_) return cached_->credential;
  StatusOr<ExecAnswer> answer = Run();
  if (!answer.ok()) {
    // A credential that is due for renewal but not yet expired still serves.
    if (cached_ && cached_->expiry && now < *cached_->expiry) return cached_->credential;
    return answer.status();
  }
  cached_ = std::move(*answer);
  renew_at_ = std::chrono::system_clock::time_point::max();
  if (cached_->expiry) {
    const auto lifetime = *cached_->expiry - now;
    const auto margin = std::min<std::chrono::system_clock::duration>(
        options_.renew_before, std::max<std::chrono::system_clock::duration>(lifetime / 4, {}));
    renew_at_ = *cached_->expiry - margin;
  }
  return cached_->credential;
}

bool ExecCredentialSource::Invalidate(const HttpCredential& rejected) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cached_ && cached_->credential == rejected) cached_.reset();
  return true;
}

}  // namespace jobsync
