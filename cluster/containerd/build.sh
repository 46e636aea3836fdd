#!/usr/bin/env bash
# Builds the node's container runtime and prints the folder holding it as the last line of stdout:
#   containerd, containerd-shim-runc-v2, ctr  containerd v2.4.2 from the Go module proxy (go.mod's
#                                             tool lines), CGO_ENABLED=0, tags as its Makefile sets
#   pause.tar                                 the sandbox image: k8s' build/pause/linux/pause.c
#                                             (k8s.io/kubernetes v1.36.3) with gcc -static, as an
#                                             OCI archive written by umoci (Debian), for
#                                             `ctr images import`; nothing is ever pulled
# Progress goes to stderr. Cached like ../controlplane/build.sh, keyed by go.mod, go.sum, this
# script, pause.c and the Go version.
#   CONTAINERD_CACHE_DIR  where builds are kept
#                         (default: ${XDG_CACHE_HOME:-~/.cache}/hello-pepr-store-resources/containerd)
# Exit codes: 0 built or reused, 10 no Go toolchain, 11 Go too old, 12 no gcc/umoci, 1 failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${CONTAINERD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hello-pepr-store-resources/containerd}"
start=$SECONDS

say() { printf 'containerd build [%4ds] %s\n' "$((SECONDS - start))" "$*" >&2; }

# shellcheck source=../go-build.sh
source "$here/../go-build.sh"
require_go
for tool in gcc umoci; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    say "error: ${tool} is missing (Debian: apt-get install gcc libc6-dev umoci; .ci/run installs them)"
    exit 12
  fi
done

# pause.c ships in the k8s.io/kubernetes module the control plane already builds from.
k8s_version="$(awk '$1 == "k8s.io/kubernetes" {print $2}' "$here/../controlplane/go.mod")"
k8s_dir="$(cd "$here/../controlplane" && go mod download -json "k8s.io/kubernetes@${k8s_version}" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
pause_c="${k8s_dir}/build/pause/linux/pause.c"
pause_tag="$(awk '$1 == "TAG" && $2 == "?=" {print $3}' "${k8s_dir}/build/pause/Makefile")"

key="$(cd "$here" && cat build.sh go.mod go.sum "${pause_c}" | sha256sum | cut -c1-16)-${go_version}"
out="${cache}/${key}"
if [ -x "${out}/containerd" ] && [ -f "${out}/pause.tar" ]; then
  say "reusing ${out} (sources unchanged)"
  keep_recent_builds "${out}"
  echo "${out}"
  exit 0
fi

mkdir -p "${cache}"
tmp="$(mktemp -d "${cache}/.build.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT

version="$(awk '$1 == "github.com/containerd/containerd/v2" {print $2}' "$here/go.mod")"
say "downloading Go modules (containerd ${version})..."
(cd "$here" && go mod download)
tags="urfave_cli_no_docs"
total="$(cd "$here" && CGO_ENABLED=0 go list -tags "${tags}" -deps tool | sort -u | wc -l)"
say "compiling ${total} packages (containerd, ctr, containerd-shim-runc-v2) on $(nproc) cores..."
pkg=github.com/containerd/containerd/v2
ldflags="-X ${pkg}/version.Version=${version} -X ${pkg}/version.Package=${pkg}"

# go build -v names each package as it is compiled; count them for a progress line every 20 s.
log="${tmp}/build.log"
build() { # build TAGS PACKAGE...
  local tags=$1
  shift
  CGO_ENABLED=0 go build -v -trimpath -buildvcs=false -tags "${tags}" -ldflags "${ldflags}" \
    -o "${tmp}/" "$@"
}
(cd "$here" && build "${tags}" ${pkg}/cmd/containerd ${pkg}/cmd/ctr 2>>"${log}" &&
  build "${tags} no_grpc" ${pkg}/cmd/containerd-shim-runc-v2 2>>"${log}") &
wait_for_build $! "${log}" "${total}"

say "building the pause image ${pause_tag} from ${pause_c}"
mkdir -p "${tmp}/rootfs"
gcc -Os -Wall -Werror -static -DVERSION="v${pause_tag}-${k8s_version}" -o "${tmp}/rootfs/pause" "${pause_c}"
bash "$here/oci-archive.sh" "${tmp}/pause.tar" "${pause_tag}" "${tmp}/rootfs" /pause 65535 >&2

mkdir -p "${out}"
mv "${tmp}"/{containerd,ctr,containerd-shim-runc-v2,pause.tar} "${out}/"
echo "${pause_tag}" >"${out}/pause.tag"
say "built ${out} ($(du -sm "${out}" | cut -f1) MiB) in $((SECONDS - start))s"
keep_recent_builds "${out}"
echo "${out}"
