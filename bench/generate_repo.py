#!/usr/bin/env python3
"""Generates a Git repository of N TrainingJob manifests for the benchmarks, with a history of
small changes.

    generate_repo.py N DIR [--kubernetes-only] [--commits K] [--namespaces M] [--seed S]

The jobs are spread over M namespaces (team-00, ...), one file per job, ~70% Kubernetes (one to
four roles among worker, ps, chief, evaluator, with env, command, labels and resources, as in
examples/repo) and ~30% Ray (entrypoint, runtime env). Manifests are 0.6-1.2 KB, like the
examples. After the first commit ("Add N jobs"), K commits each change one job's worker replicas,
as a day of pull requests would. Deterministic for a seed. Prints the directory.
"""
import argparse
import pathlib
import random
import subprocess

IMAGES = ["pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime", "tensorflow/tensorflow:2.17.0",
          "nvcr.io/nvidia/pytorch:24.08-py3", "python:3.11-slim"]
ROLE_SETS = [["worker"], ["worker"], ["worker"], ["chief", "worker"], ["ps", "worker"],
             ["chief", "evaluator", "ps", "worker"]]


def header(name, namespace):
    """The lines every generated manifest starts with, up to its labels."""
    return [
        "# %s: generated for the benchmarks" % name,
        "apiVersion: jobsync.dev/v1alpha1",
        "kind: TrainingJob",
        "metadata:",
        "  name: %s" % name,
        "  namespace: %s" % namespace,
        "  labels:",
        "    team: %s" % namespace,
    ]


def kubernetes_job(name, namespace, rng, one_replica=False):
    roles = ["worker"] if one_replica else rng.choice(ROLE_SETS)
    lines = header(name, namespace) + [
        "    project: p%d" % rng.randrange(50),
        "spec:",
        "  backend: kubernetes",
        "  image: %s" % rng.choice(IMAGES),
        "  command: [torchrun, --nnodes=1:8, --nproc-per-node=1, train.py, --epochs=%d]"
        % rng.randrange(10, 200),
        "  env:",
        '    EPOCHS: "%d"' % rng.randrange(10, 200),
        "    DATASET: s3://datasets/%s/%s" % (namespace, name),
        '    LEARNING_RATE: "%g"' % rng.choice([0.1, 0.01, 0.001, 0.0003]),
        "  roles:",
    ]
    for role in roles:
        replicas = rng.randrange(1, 5) if role == "worker" and not one_replica else 1
        lines += ["    %s:" % role, "      replicas: %d" % replicas]
        if role == "worker":
            lines += ["      minReplicas: 1", "      maxReplicas: 16"]
        lines.append('      resources: {cpu: "%d", memory: %dGi%s}'
                     % (rng.choice([1, 2, 4]), rng.choice([2, 4, 8]),
                        ", gpu: 1" if role == "worker" and rng.random() < 0.5 else ""))
    return "\n".join(lines) + "\n"


def ray_job(name, namespace, rng):
    return "\n".join(header(name, namespace) + [
        "spec:",
        "  backend: ray",
        "  env:",
        '    NUM_SAMPLES: "%d"' % rng.randrange(4, 64),
        "  roles:",
        "    worker:",
        "      replicas: %d" % rng.randrange(1, 5),
        "      resources: {cpu: \"1\"}",
        "  ray:",
        "    entrypoint: python tune.py --samples=%d" % rng.randrange(4, 64),
        "    runtimeEnv:",
        "      env_vars: {RAY_DEDUP_LOGS: \"0\"}",
        "    entrypointResources: {cpu: 0.1}",
    ]) + "\n"


def git(directory, *args):
    subprocess.run(["git", "-C", str(directory)] + list(args), check=True,
                   stdout=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int)
    parser.add_argument("dir")
    parser.add_argument("--kubernetes-only", action="store_true")
    parser.add_argument("--commits", type=int, default=5)
    parser.add_argument("--namespaces", type=int, default=20)
    parser.add_argument("--namespace-prefix", default="team")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one-replica", action="store_true",
                        help="one role with one replica per job (cluster benchmarks: fewer pods)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = pathlib.Path(args.dir)
    root.mkdir(parents=True, exist_ok=False)
    files = []
    for i in range(args.n):
        namespace = "%s-%02d" % (args.namespace_prefix, i % args.namespaces)
        name = "job-%05d" % i
        ray = not args.kubernetes_only and rng.random() < 0.3
        text = (ray_job(name, namespace, rng) if ray
                else kubernetes_job(name, namespace, rng, args.one_replica))
        path = root / namespace / (name + ".yaml")
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        files.append(path)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    author = ["-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    git(root, *author, "commit", "-q", "-m", "Add %d jobs" % args.n)
    for k in range(args.commits):
        path = rng.choice(files)
        lines = path.read_text().splitlines()
        for j, line in enumerate(lines):
            if line.strip().startswith("replicas:"):
                old = int(line.split("replicas:")[1])
                new = rng.choice([r for r in range(1, 9) if r != old])
                lines[j] = line.split("replicas:")[0] + "replicas: %d" % new
                break
        path.write_text("\n".join(lines) + "\n")
        git(root, *author, "commit", "-q", "-a", "-m", "Change %s (%d)" % (path.stem, k))
    print(root)


if __name__ == "__main__":
    main()
