#!/usr/bin/env bash
# The image build, checked without a container engine (none runs here):
#   - deploy/Dockerfile's runtime stage provides every shared object `ldd jobsync` lists: each
#     one's Debian package is among the stage's packages, their dependencies, or what the slim
#     base image holds (apt and its dependencies); it installs no compiler or -dev package, and
#     runs as uid 65532; the build stage installs no browser, clang or Go;
#   - .dockerignore keeps the build trees, .git and caches out of the context (scripts/image
#     --context: what a build would send);
#   - scripts/image fails with exit 2 saying what to start or install when no builder works, and
#     passes a builder the Dockerfile, the tag the Deployment names and the commit.
# Usage: image_test.sh JOBSYNC_BINARY SOURCE_DIR   (needs Debian's apt-cache and dpkg)
set -uo pipefail
jobsync=$(readlink -f "$1")
src=$(readlink -f "$2")
source "$src/tests/cli/testlib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v apt-cache >/dev/null && command -v dpkg >/dev/null ||
  { echo "FAIL: apt-cache and dpkg are needed (a Debian 12 host, as scripts/install-deps sets up)"; finish; exit 1; }

# The packages the apt-get install of the stage FROM ... AS $1 names.
stage_packages() {
  awk -v stage="$1" '/^FROM / {on = ($NF == stage)} on' "$src/deploy/Dockerfile" |
    sed -n '/apt-get install/,/&&/p' | tr ' \\' '\n\n' |
    grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -v -E '^(apt-get|install|rm)$'
}
runtime=$(stage_packages runtime)
build=$(stage_packages build)
check "the runtime stage installs packages" yes "$([ -n "$runtime" ] && echo yes)"
check "the runtime stage installs no compiler or -dev package" "" \
  "$(printf '%s\n' "$runtime" | grep -E -- '-dev$|^(build-essential|gcc|g\+\+|clang.*|cmake|ninja-build)$')"
check "the build stage installs no browser, clang or Go" "" \
  "$(printf '%s\n' "$build" | grep -E '^(chromium|clang.*|golang.*)$')"
check "the build stage does not run scripts/install-deps (the tests' tools)" "" \
  "$(grep -n 'install-deps' "$src/deploy/Dockerfile" | grep -v '^[0-9]*:#')"
check "the runtime stage runs as uid 65532" "USER 65532:65532" \
  "$(awk '/^FROM / {on = ($NF == "runtime")} on && /^USER /' "$src/deploy/Dockerfile")"

# Every package the stage has: its own, their dependencies, and the slim base (apt's closure).
# shellcheck disable=SC2086
apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $runtime apt 2>/dev/null | grep -E '^[a-z0-9]' | sed 's/:.*//' |
  sort -u >"$work/provided"
missing=()
while read -r so path; do
  owner=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null)
  owner=${owner%%:*}
  grep -qx "$owner" "$work/provided" || missing+=("$so (package ${owner:-unknown})")
done < <(ldd "$jobsync" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}')
check "every shared object of ldd jobsync comes with the runtime stage" "" "${missing[*]}" ||
  echo "  add the packages named to the runtime stage of deploy/Dockerfile"
check "ldd found the binary's shared objects" yes \
  "$([ "$(ldd "$jobsync" | grep -c '=> /')" -gt 5 ] && echo yes)"

# The context a build would send.
"$src/scripts/image" --context --list >"$work/context" 2>&1
check "scripts/image --context lists the context" 0 $?
check "the context holds no build tree, .git or cache" "" \
  "$(grep -E '^(build|build-[^/]*|\.git|\.cache)/' "$work/context" | head -3)"
check "the context holds the sources" "yes yes" \
  "$(grep -qx CMakeLists.txt "$work/context" && echo yes) $(grep -qx deploy/Dockerfile "$work/context" && echo yes)"
size=$("$src/scripts/image" --context | sed -n 's/^context: [0-9]* files, \([0-9]*\) bytes$/\1/p')
check "the context is under 20 MB (it is $size bytes)" yes "$([ "${size:-999999999}" -lt 20000000 ] && echo yes)"

# scripts/image with a PATH that holds only the tools it uses and the builders given.
mkdir -p "$work/bin"
for tool in bash dirname sed git grep tail python3; do ln -s "$(command -v "$tool")" "$work/bin/$tool"; done
cat >"$work/bin/docker" <<'EOF'
#!/bin/bash
[ "$1" = info ] && { echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1; }
exit 1
EOF
chmod +x "$work/bin/docker"
out=$(PATH=$work/bin "$src/scripts/image" 2>&1)
check "scripts/image without a working builder: exit 2" 2 $?
printf '%s\n' "$out" | grep -q "docker: installed, but its daemon does not answer (Cannot connect to the Docker daemon" &&
  printf '%s\n' "$out" | grep -q "podman: not installed" && printf '%s\n' "$out" | grep -q "install podman or buildah"
check "scripts/image without a working builder: says why each cannot be used and what to do" 0 $? ||
  printf '%s\n' "$out"

cat >"$work/bin/podman" <<EOF
#!/bin/bash
printf '%s\n' "\$*" >"$work/podman.args"
EOF
chmod +x "$work/bin/podman"
PATH=$work/bin "$src/scripts/image" >/dev/null 2>&1
check "scripts/image with podman: exit 0" 0 $?
image=$(sed -n 's/^ *image: //p' "$src/deploy/kubernetes/deployment.yaml")
check "scripts/image builds the Deployment's image from deploy/Dockerfile at this commit" \
  "build -f deploy/Dockerfile -t $image --build-arg JOBSYNC_REVISION=$(git -C "$src" rev-parse HEAD) ." \
  "$(cat "$work/podman.args" 2>/dev/null)"

finish
