#!/usr/bin/env bash
# Builds the local control plane binary (etcd + kube-apiserver + controllers + kubectl) and
# prints its path as the last line of stdout. Progress goes to stderr.
#
# The build is cached outside the clone, keyed by a hash of go.mod, go.sum, the Go sources
# and the Go version: a second run with nothing changed returns at once.
#   CONTROLPLANE_CACHE_DIR  where builds are kept
#                           (default: ${XDG_CACHE_HOME:-~/.cache}/hello-pepr-store-resources/controlplane)
# Exit codes: 0 built or reused, 10 no Go toolchain, 11 Go too old, 1 build failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${CONTROLPLANE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hello-pepr-store-resources/controlplane}"
start=$SECONDS

say() { printf 'controlplane build [%4ds] %s\n' "$((SECONDS - start))" "$*" >&2; }

# shellcheck source=../go-build.sh
source "$here/../go-build.sh"
require_go

key="$(cd "$here" && cat build.sh go.mod go.sum ./*.go | sha256sum | cut -c1-16)-${go_version}"
out="${cache}/${key}"
if [ -x "${out}/controlplane" ]; then
  say "reusing ${out}/controlplane (sources unchanged)"
  keep_recent_builds "${out}"
  echo "${out}/controlplane"
  exit 0
fi

mkdir -p "${cache}"
tmp="$(mktemp -d "${cache}/.build.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT

say "downloading Go modules (k8s.io/kubernetes v1.36.3, etcd v3.6.8)..."
(cd "$here" && go mod download)
total="$(cd "$here" && CGO_ENABLED=0 go list -deps . | wc -l)"
# The one build-time estimate, measured (docs/local-node.md): 307 s cold in a quiet CI run before the node
# components were added; 1278 s with them on a 2-core machine loaded by other builds.
say "compiling ${total} packages with ${go_version} on $(nproc) cores: a cold build takes 5 to 20 min on 2 cores (307 s measured without the node components, 1278 s with them under load); the binary is cached after..."

# Stamp the Kubernetes version as upstream's hack/lib/version.sh does, so that
# "kubectl version" and the API server's /version say v1.36.3, not v0.0.0-master.
k8s_version="$(awk '$1 == "k8s.io/kubernetes" {print $2}' "$here/go.mod")"
minor="$(echo "${k8s_version}" | cut -d. -f2)"
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${k8s_version} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
  ldflags+=" -X ${pkg}.gitTreeState=clean"
done

# go build -v names each package as it is compiled; count them for a progress line every 20s.
log="${tmp}/build.log"
timer=() # GNU time (Debian package "time") reports peak memory when present
[ -x /usr/bin/time ] && timer=(/usr/bin/time -v -o "${tmp}/time.txt")
(cd "$here" && CGO_ENABLED=0 "${timer[@]}" \
  go build -v -trimpath -buildvcs=false -ldflags "${ldflags}" -o "${tmp}/controlplane" . 2>"${log}") &
wait_for_build $! "${log}" "${total}"

peak_kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "${tmp}/time.txt" 2>/dev/null || true)"
mkdir -p "${out}"
mv "${tmp}/controlplane" "${out}/controlplane"
ln -sf controlplane "${out}/kubectl"
size_mb="$(( $(stat -c %s "${out}/controlplane") / 1024 / 1024 ))"
say "built ${out}/controlplane (${size_mb} MiB) in $((SECONDS - start))s, peak RSS of one compile/link step ${peak_kb:-?} KiB"
keep_recent_builds "${out}"
echo "${out}/controlplane"
