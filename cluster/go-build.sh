# shellcheck shell=bash
# Sourced by cluster/controlplane/build.sh and cluster/containerd/build.sh: the Go toolchain check,
# the progress of a background `go build -v` and the pruning of old cached builds, written once.
# The caller defines say().

min_go="1.26"

# require_go: exits 10 without Go on PATH, 11 when it is older than ${min_go}; sets go_version.
require_go() {
  if ! command -v go >/dev/null 2>&1; then
    say "error: no Go toolchain on PATH. Install Go >= ${min_go} (https://go.dev/doc/install;"
    say "       on this project's machines it is /usr/local/go/bin/go) and run again."
    exit 10
  fi
  go_version="$(go env GOVERSION)" # e.g. go1.26.8
  if [ "$(printf '%s\n' "go${min_go}" "${go_version}" | sort -V | head -n1)" != "go${min_go}" ]; then
    say "error: ${go_version} is older than go${min_go}, which k8s.io/kubernetes v1.36 requires"
    exit 11
  fi
}

# wait_for_build PID LOG TOTAL: `go build -v` names each package as it compiles it, in LOG; says
# "compiled N/TOTAL packages" every 20 s until PID ends. When the build failed, shows the end
# of LOG and exits 1.
wait_for_build() {
  local pid=$1 log=$2 total=$3 rc
  while kill -0 "$pid" 2>/dev/null; do
    sleep 20
    kill -0 "$pid" 2>/dev/null && say "compiled $(grep -cv '^#' "${log}" || true)/${total} packages"
  done
  set +e
  wait "$pid"
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "${log}" >&2
    say "error: go build failed (exit ${rc}); full log above"
    exit 1
  fi
}

# keep_recent_builds OUT: marks the build OUT as used now, then removes all but the
# ${BUILD_CACHE_KEEP:-3} most recently used builds beside it (each source change would otherwise
# leave one more ~200 MiB build behind). Builds in progress (.build.*) are left alone.
keep_recent_builds() {
  local out=$1 keep=${BUILD_CACHE_KEEP:-3}
  touch "${out}"
  find "$(dirname "${out}")" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%T@ %p\n' |
    sort -rn | tail -n "+$((keep + 1))" | cut -d' ' -f2- | xargs -r rm -rf --
}
