#!/usr/bin/env bash
# Writes a one-layer OCI image archive (an OCI layout as a tar) with umoci, for
# `ctr -n k8s.io images import --base-name NAME ARCHIVE` (the image is NAME:TAG).
#   oci-archive.sh ARCHIVE TAG ROOTFS ENTRYPOINT [USER]
# ROOTFS is a folder whose contents become the image's /; ENTRYPOINT is the command in it.
set -euo pipefail

if [ $# -lt 4 ]; then
  echo "usage: $0 ARCHIVE TAG ROOTFS ENTRYPOINT [USER]" >&2
  exit 2
fi
archive=$(realpath -m "$1") tag=$2 rootfs=$3 entrypoint=$4 user=${5:-65532:65532}
layout="$(mktemp -d)"
trap 'rm -rf "${layout}"' EXIT

umoci init --layout "${layout}/oci"
umoci new --image "${layout}/oci:${tag}"
umoci insert --image "${layout}/oci:${tag}" "${rootfs}" /
umoci config --image "${layout}/oci:${tag}" --config.entrypoint "${entrypoint}" --config.user "${user}" \
  --architecture "$(go env GOARCH 2>/dev/null || echo amd64)" --os linux
umoci gc --layout "${layout}/oci"
tar -C "${layout}/oci" -cf "${archive}" .
echo "wrote ${archive} (tag ${tag}, $(du -k "${archive}" | cut -f1) KiB)"
