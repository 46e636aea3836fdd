// The controller image archive opened as an OCI layout (GNU tar), unpacked as a runtime bundle
// (umoci) and run with Debian's runc: how the image tests look inside it before any node runs it.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/** Jest deadline for a build: a cold one downloads pepr's dependencies, node and three .debs. */
export const BUILD_TIMEOUT_MS = 600_000;

interface Descriptor {
  mediaType: string;
  digest: string;
  annotations?: Record<string, string>;
}

/** The parts of the image config the tests read (OCI image-spec config.json). */
export interface ImageConfig {
  os: string;
  architecture: string;
  config: { User?: string; WorkingDir?: string; Entrypoint?: string[]; Cmd?: string[] };
}

export interface Layout {
  dir: string;
  index: { manifests: Descriptor[] };
  manifest: { config: Descriptor; layers: Descriptor[] };
  config: ImageConfig;
}

/** A bind mount into the container: host file or dir → path inside, read-only. */
export interface BindMount {
  source: string;
  destination: string;
}

export interface RunOptions {
  /** Replace the image's entrypoint instead of appending to it (a pod's command vs its args). */
  replaceEntrypoint?: boolean;
  /** Added to the image's environment. */
  env?: Record<string, string>;
  mounts?: BindMount[];
  /** Share the host's network namespace (to reach the API server on 127.0.0.1). */
  hostNetwork?: boolean;
}

function run(cmd: string, args: string[]): string {
  const result = spawnSync(cmd, args, { encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${result.status}): ${result.stderr}`);
  }
  return result.stdout;
}

/** Extracts the archive into `dir` and reads its index, manifest and config. */
export function openLayout(archive: string, dir: string): Layout {
  mkdirSync(dir, { recursive: true });
  run("tar", ["-C", dir, "-xf", archive]);
  const blob = (digest: string) =>
    JSON.parse(readFileSync(path.join(dir, "blobs", ...digest.split(":")), "utf8"));
  const index = JSON.parse(readFileSync(path.join(dir, "index.json"), "utf8"));
  const manifest = blob(index.manifests[0].digest);
  return { dir, index, manifest, config: blob(manifest.config.digest) };
}

/** Unpacks the image `name` as a runtime bundle (umoci, as root: file owners kept); returns the rootfs. */
export function unpackBundle(layout: Layout, name: string, bundle: string): string {
  run("umoci", ["unpack", "--image", `${layout.dir}:${name}`, bundle]);
  return path.join(bundle, "rootfs");
}

/** Rewrites the bundle's config.json (from umoci) for one run with `args`. */
function configureRun(bundle: string, args: string[], options: RunOptions): void {
  const configPath = path.join(bundle, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8"));
  config.process.terminal = false;
  config.process.args = options.replaceEntrypoint ? args : [...config.process.args, ...args];
  config.process.env.push(...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`));
  for (const m of options.mounts ?? []) {
    config.mounts.push({ ...m, type: "bind", options: ["rbind", "ro"] });
  }
  if (options.hostNetwork) {
    config.linux.namespaces = config.linux.namespaces.filter(
      (ns: { type: string }) => ns.type !== "network",
    );
  }
  writeFileSync(configPath, JSON.stringify(config));
}

/** Runs `args` in the bundle under runc and waits for it: exit status and output. */
export function runInBundle(bundle: string, id: string, args: string[], options: RunOptions = {}) {
  configureRun(bundle, args, options);
  return spawnSync("runc", ["run", "--bundle", bundle, id], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
  });
}

/**
 * Starts `args` in the bundle under `runc run` (in the foreground: runc relays SIGTERM to the
 * container's process); call {@link deleteContainer} afterwards in case runc itself was killed.
 */
export function startInBundle(bundle: string, id: string, args: string[], options: RunOptions) {
  configureRun(bundle, args, options);
  return spawn("runc", ["run", "--bundle", bundle, id], { stdio: ["ignore", "pipe", "pipe"] });
}

/** Removes the runc container `id` if it is still there (kills its processes). */
export function deleteContainer(id: string): void {
  spawnSync("runc", ["delete", "--force", id], { stdio: "ignore" });
}
