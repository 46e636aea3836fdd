// The Pepr controller image, built here from the registries by build.sh (see its header for the
// layout and where each part comes from) and cached by content as an OCI image archive.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";

import { describeMissing, ensureRequirements } from "../requirements";

/** The script that builds (or reuses) the archive; its last stdout line is the archive's path. */
export const BUILD_SCRIPT = path.join(__dirname, "build.sh");

/** Exit codes of build.sh, with what they mean. */
const EXIT_MEANINGS: Record<number, string> = {
  10: "a tool is missing (umoci, apt-get, dpkg-deb, npm) or apt has no package index",
  12: "cluster/image/app/package.json installs another pepr than package.json pepr.peprVersion",
};

/** A built controller image: what build.sh records in image.json next to the archive. */
export interface ControllerImage {
  /** The OCI image archive (a tar of an OCI layout) that `ctr images import` loads. */
  archive: string;
  /** The image's full name, its only org.opencontainers.image.ref.name. */
  name: string;
  /** Digest of the image manifest. */
  manifest: string;
  /** Size of the archive. */
  archiveBytes: number;
  /** How long the build that made this archive took (0 when it was reused). */
  buildSeconds: number;
}

export interface BuildControllerImageOptions {
  /** Image name; default the one `pepr deploy` writes (ghcr.io/defenseunicorns/pepr/controller:v<peprVersion>). */
  name?: string;
  /** Receives each progress line; default: written to stderr. */
  onProgress?: (line: string) => void;
  /** Extra environment for build.sh (CONTROLLER_IMAGE_CACHE_DIR, npm_config_cache for a cold build). */
  env?: Record<string, string>;
}

/** Thrown when build.sh fails; exitCode is its exit status. */
export class ImageBuildError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/**
 * Builds the Pepr controller image archive, or reuses the cached one when its inputs are unchanged.
 *
 * @param options - another image name (for `npx pepr deploy -i <name>`) and a progress sink
 * @returns the archive, its image name and manifest digest
 * @throws ImageBuildError with build.sh's exit code and what it means
 */
export async function buildControllerImage(
  options: BuildControllerImageOptions = {},
): Promise<ControllerImage> {
  const onProgress = options.onProgress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const missing = ensureRequirements(["image"], line => onProgress(`host: ${line}`));
  if (missing.length > 0) {
    throw new ImageBuildError(`cannot build the controller image: ${describeMissing(missing)}`, 10);
  }
  const child = spawn("bash", [BUILD_SCRIPT, ...(options.name ? [options.name] : [])], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  readline.createInterface({ input: child.stdout }).on("line", line => stdout.push(line));
  readline.createInterface({ input: child.stderr }).on("line", line => {
    stderr.push(line);
    onProgress(line);
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", status => resolve(status ?? 1));
  });
  if (code !== 0) {
    const meaning = EXIT_MEANINGS[code] ?? "see its output";
    const tail = stderr.slice(-20).join("\n");
    throw new ImageBuildError(
      `cluster/image/build.sh failed (exit ${code}): ${meaning}\n${tail}`,
      code,
    );
  }
  const archive = stdout[stdout.length - 1];
  const recorded = JSON.parse(readFileSync(path.join(path.dirname(archive), "image.json"), "utf8"));
  const reused = stderr.some(line => line.includes(" reusing "));
  return { ...recorded, archive, buildSeconds: reused ? 0 : recorded.buildSeconds };
}
