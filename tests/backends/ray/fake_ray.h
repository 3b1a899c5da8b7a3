// Test doubles for the Ray backend: a gmock HttpClient, an in-memory fake of the Ray Jobs API
// that the mock delegates to by default, and builders of Ray TrainingJobs.
#ifndef JOBSYNC_TESTS_BACKENDS_RAY_FAKE_RAY_H_
#define JOBSYNC_TESTS_BACKENDS_RAY_FAKE_RAY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "backends/http_client.h"
#include "schemas/model.h"
#include "schemas/quantity.h"

namespace jobsync::testing {

class MockHttpClient : public HttpClient {
 public:
  MOCK_METHOD(StatusOr<HttpResponse>, Send, (const HttpRequest& request), (override));
  MOCK_METHOD(StatusOr<HttpResponse>, Stream,
              (const HttpRequest& request, const std::function<bool(std::string_view)>& on_line,
               const HttpCancellation& cancel),
              (override));
};

// An in-memory Ray Jobs API with the real server's answers (status codes and texts as in Ray's
// job_head.py and job_manager.py): submit, list, get, stop, delete. Stopped jobs turn STOPPED
// after `polls_until_stopped` further GETs of the job; `no_agent_failures` submits are answered
// "No available agent" first; `down` makes every request fail as an unreachable server. Records
// every request as "METHOD path". Not thread-safe.
class FakeRayJobs {
 public:
  struct Job {
    nlohmann::json request;  // the submit body
    std::string status = "PENDING";
    int64_t start_time = 0;
    bool stopping = false;
    int polls_left = 0;
  };

  StatusOr<HttpResponse> Handle(const HttpRequest& request) {
    log.push_back(request.method + " " + request.path);
    if (down) return UnavailableError("connection refused");
    const std::string prefix = "/api/jobs/";
    if (request.path.rfind(prefix, 0) != 0) return Answer(404, "not found");
    std::string rest = request.path.substr(prefix.size());
    if (request.method == "GET" && rest.empty()) return List();
    if (request.method == "POST" && rest.empty()) return Submit(request.body);
    const std::string stop_suffix = "/stop";
    if (request.method == "POST" && rest.size() > stop_suffix.size() &&
        rest.compare(rest.size() - stop_suffix.size(), stop_suffix.size(), stop_suffix) == 0) {
      return StopJob(rest.substr(0, rest.size() - stop_suffix.size()));
    }
    if (request.method == "GET") return Get(rest);
    if (request.method == "DELETE") return DeleteJob(rest);
    return Answer(405, "method not allowed");
  }

  // Adds a job as if submitted earlier (e.g. by another owner, or a previous generation).
  void Add(const std::string& id, nlohmann::json metadata, std::string status, int64_t start_time) {
    Job job;
    job.request = {{"entrypoint", "python x.py"}, {"submission_id", id}, {"metadata", metadata}};
    job.status = std::move(status);
    job.start_time = start_time;
    jobs[id] = job;
  }

  // The requests whose "METHOD path" starts with `prefix`.
  std::vector<std::string> Requests(std::string_view prefix) const {
    std::vector<std::string> out;
    for (const std::string& entry : log) {
      if (entry.rfind(prefix, 0) == 0) out.push_back(entry);
    }
    return out;
  }

  std::map<std::string, Job> jobs;
  std::vector<std::string> log;
  bool down = false;
  int no_agent_failures = 0;
  int polls_until_stopped = 1;
  // New submissions start in this state (RUNNING once "the driver started").
  std::string initial_status = "RUNNING";
  int64_t clock = 1000;

 private:
  static StatusOr<HttpResponse> Answer(int status, std::string body) {
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    return response;
  }

  nlohmann::json Details(const std::string& id, const Job& job) const {
    nlohmann::json details = {{"type", "SUBMISSION"},
                              {"job_id", nullptr},
                              {"submission_id", id},
                              {"status", job.status},
                              {"entrypoint", job.request.value("entrypoint", "")},
                              {"start_time", job.start_time},
                              {"metadata", job.request.value("metadata", nlohmann::json())}};
    return details;
  }

  StatusOr<HttpResponse> List() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [id, job] : jobs) list.push_back(Details(id, job));
    // A driver job (no submission id), as Ray lists for `ray.init()` scripts.
    list.push_back({{"type", "DRIVER"},
                    {"job_id", "01000000"},
                    {"submission_id", nullptr},
                    {"status", "RUNNING"},
                    {"metadata", nlohmann::json::object()}});
    return Answer(200, list.dump());
  }

  StatusOr<HttpResponse> Submit(const std::string& body) {
    nlohmann::json request = nlohmann::json::parse(body, nullptr, false);
    if (!request.is_object() || !request.contains("entrypoint")) {
      return Answer(400, "Traceback ...\nTypeError: bad request");
    }
    if (no_agent_failures > 0) {
      --no_agent_failures;
      return Answer(500, "No available agent to submit job, please try again later.");
    }
    std::string id = request.value("submission_id", "raysubmit_generated");
    if (jobs.count(id) != 0) {
      return Answer(500,
                    "Traceback (most recent call last):\n  File ...\nValueError: Job with "
                    "submission_id " +
                        id +
                        " already exists. Please use a different "
                        "submission_id.");
    }
    Job job;
    job.request = request;
    job.status = initial_status;
    job.start_time = ++clock;
    jobs[id] = job;
    return Answer(200, nlohmann::json{{"job_id", id}, {"submission_id", id}}.dump());
  }

  StatusOr<HttpResponse> Get(const std::string& id) {
    auto it = jobs.find(id);
    if (it == jobs.end()) return Answer(404, "Job " + id + " does not exist");
    Job& job = it->second;
    if (job.stopping && job.polls_left-- <= 0) {
      job.status = "STOPPED";
      job.stopping = false;
    }
    return Answer(200, Details(id, job).dump());
  }

  StatusOr<HttpResponse> StopJob(const std::string& id) {
    auto it = jobs.find(id);
    if (it == jobs.end()) return Answer(404, "Job " + id + " does not exist");
    Job& job = it->second;
    bool running = job.status == "PENDING" || job.status == "RUNNING";
    if (running && !job.stopping) {
      job.stopping = true;
      job.polls_left = polls_until_stopped;
    }
    return Answer(200, nlohmann::json{{"stopped", running}}.dump());
  }

  StatusOr<HttpResponse> DeleteJob(const std::string& id) {
    auto it = jobs.find(id);
    if (it == jobs.end()) return Answer(404, "Job " + id + " does not exist");
    const std::string& status = it->second.status;
    if (status == "PENDING" || status == "RUNNING") {
      return Answer(500, "Traceback ...\nRuntimeError: Attempted to delete job '" + id +
                             "', but it is in a non-terminal state " + status + ".");
    }
    jobs.erase(it);
    return Answer(200, R"({"deleted": true})");
  }
};

// Parses a quantity the test spells correctly.
inline Quantity Q(std::string_view text) {
  StatusOr<Quantity> quantity = Quantity::Parse(text);
  EXPECT_TRUE(quantity.ok()) << text;
  return quantity.ok() ? *quantity : *Quantity::Parse("0");
}

// A valid Ray job: `workers` workers (1 cpu, 2Gi, 1 gpu each) and one "param-server", an
// entrypoint with small entrypoint resources, from manifests/<name>.yaml.
inline TrainingJob RayTrainingJob(std::string name, int workers = 2,
                                  std::string namespace_name = "team-a") {
  TrainingJob job;
  job.name = std::move(name);
  job.namespace_name = std::move(namespace_name);
  job.backend = BackendKind::kRay;
  job.env = {{"EPOCHS", "3"}};
  Role worker;
  worker.replicas = workers;
  worker.resources.cpu = Q("1");
  worker.resources.memory = Q("2Gi");
  worker.resources.gpu = 1;
  job.roles["worker"] = worker;
  Role ps;
  ps.replicas = 1;
  ps.resources.cpu = Q("500m");
  job.roles["param-server"] = ps;
  RaySpec ray;
  ray.entrypoint = "python train.py";
  ray.runtime_env = {{"working_dir", "."}, {"env_vars", {{"FROM_RUNTIME_ENV", "1"}}}};
  ray.entrypoint_resources.cpu = 0.1;
  ray.entrypoint_resources.memory = Q("128Mi");
  job.ray = ray;
  job.source = {"manifests/" + job.name + ".yaml", 1, 1};
  return job;
}

}  // namespace jobsync::testing

#endif  // JOBSYNC_TESTS_BACKENDS_RAY_FAKE_RAY_H_
