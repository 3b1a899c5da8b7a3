// Training jobs built in code for the backends' tests.
#ifndef JOBSYNC_TESTS_BACKENDS_TEST_JOBS_H_
#define JOBSYNC_TESTS_BACKENDS_TEST_JOBS_H_

#include <string>

#include "schemas/model.h"
#include "schemas/quantity.h"

namespace jobsync::testing {

inline Quantity Q(const char* text) { return *Quantity::Parse(text); }

// A Kubernetes job `name` in `namespace_name` with roles worker (`workers` replicas, cpu, memory,
// gpu) and ps (1 replica), env, a command, a label and the prune annotation set to "false".
inline TrainingJob SampleJob(const std::string& name, const std::string& namespace_name,
                             int workers = 2) {
  TrainingJob job;
  job.name = name;
  job.namespace_name = namespace_name;
  job.labels = {{"team", "vision"}};
  job.annotations = {{kPruneAnnotation, "false"}};
  job.image = "registry.example/train:1";
  job.command = {"python", "train.py"};
  job.env = {{"EPOCHS", "90"}, {"JOBSYNC_ROLE", "overridden"}};
  job.roles["worker"].replicas = workers;
  job.roles["worker"].resources.cpu = Q("500m");
  job.roles["worker"].resources.memory = Q("1Gi");
  job.roles["worker"].resources.gpu = 1;
  job.roles["ps"].replicas = 1;
  job.source.path = "jobs/" + name + ".yaml";
  return job;
}

}  // namespace jobsync::testing

#endif  // JOBSYNC_TESTS_BACKENDS_TEST_JOBS_H_
