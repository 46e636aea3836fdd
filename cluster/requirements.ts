// What this machine needs beyond Node and Go, stated once. `npm start`, `npm run cluster`, the
// test harness and .ci/run all go through ensureRequirements(): as root with apt-get it installs
// what is missing and says so in one line; otherwise it returns what is missing, and the caller
// says so with the command that installs it (the node falls back to no node, as kind cannot).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

import { findOnPath } from "./paths";

/** What a requirement is for: the node, the images built here, the local watcher, the e2e tier. */
export type Need = "node" | "image" | "watcher" | "e2e";

/** A program (on PATH) or a file this project needs, and the Debian 12 package that has it. */
export interface Requirement {
  /** A program looked up on PATH, or an absolute path that must exist. */
  provides: string;
  /** The Debian package that installs it. */
  debian: string;
  /** Why, in a few words, for the install line. */
  why: string;
  /** Which runs need it. */
  neededBy: readonly Need[];
}

/**
 * Everything outside the registries this project's runs use. Go modules and npm packages build
 * the rest (control plane, containerd, kubectl, node for the image); these stay with Debian.
 */
export const REQUIREMENTS: readonly Requirement[] = [
  { provides: "runc", debian: "runc", why: "runs the node's containers", neededBy: ["node"] },
  {
    provides: "iptables",
    debian: "iptables",
    why: "kube-proxy's Service rules, the pods' NAT",
    neededBy: ["node"],
  },
  {
    provides: "conntrack",
    debian: "conntrack",
    why: "kube-proxy's connection clean-up",
    neededBy: ["node"],
  },
  {
    provides: "/usr/lib/cni/bridge",
    debian: "containernetworking-plugins",
    why: "the pods' network",
    neededBy: ["node"],
  },
  { provides: "gcc", debian: "gcc", why: "the static pause binary", neededBy: ["node"] },
  {
    provides: "/usr/include/stdio.h",
    debian: "libc6-dev",
    why: "the static pause binary",
    neededBy: ["node"],
  },
  {
    provides: "umoci",
    debian: "umoci",
    why: "assembles the pause and controller images",
    neededBy: ["node", "image"],
  },
  {
    provides: "openssl",
    debian: "openssl",
    why: "the watcher's TLS pair",
    neededBy: ["watcher", "e2e"],
  },
  {
    provides: "ip",
    debian: "iproute2",
    why: "each e2e process's own network",
    neededBy: ["e2e"],
  },
  {
    provides: "unshare",
    debian: "util-linux",
    why: "each e2e process's own network",
    neededBy: ["e2e"],
  },
];

/** Deadline of each apt-get call (the package index, then the install). */
const APT_TIMEOUT_MS = 600_000;

/** The requirements of `needs` that this machine lacks. */
export function missingRequirements(needs: readonly Need[]): Requirement[] {
  return REQUIREMENTS.filter(r => r.neededBy.some(n => needs.includes(n))).filter(r =>
    r.provides.startsWith("/") ? !existsSync(r.provides) : !findOnPath(r.provides),
  );
}

/** The Debian packages of `missing`, each once, in order. */
export function packagesOf(missing: readonly Requirement[]): string[] {
  return [...new Set(missing.map(r => r.debian))];
}

/** One line naming what is missing and the command that installs it. */
export function describeMissing(missing: readonly Requirement[]): string {
  const what = missing.map(r => r.provides).join(", ");
  return `missing ${what} (install: apt-get install ${packagesOf(missing).join(" ")})`;
}

/** Whether this process may install Debian packages: root, with apt-get on PATH. */
export function canInstall(): boolean {
  return process.getuid?.() === 0 && findOnPath("apt-get") !== undefined;
}

/**
 * Makes sure the machine has what `needs` asks for. As root with apt-get it installs what is
 * missing, with one line before (what, why) and one after (the versions); otherwise it installs
 * nothing.
 *
 * @param say - receives the progress lines
 * @returns what is still missing (empty when everything is there)
 */
export function ensureRequirements(
  needs: readonly Need[],
  say: (line: string) => void,
): Requirement[] {
  const missing = missingRequirements(needs);
  if (missing.length === 0 || !canInstall()) return missing;
  const packages = packagesOf(missing);
  const why = [...new Set(missing.map(r => r.why))].join("; ");
  say(`installing ${packages.join(" ")} with apt-get (${why})...`);
  const started = Date.now();
  // a source other than Debian's may fail the update while Debian's lists are fresh: go on
  const updateFailure = apt(["update", "-qq"]);
  const failure = apt(["install", "-y", "-qq", "--no-install-recommends", ...packages]);
  const still = missingRequirements(needs);
  if (failure || still.length > 0) {
    const after = updateFailure ? ` (after ${updateFailure})` : "";
    say(
      `apt-get could not install ${packages.join(" ")}: ${failure ?? describeMissing(still)}${after}`,
    );
    return still;
  }
  say(
    `installed in ${((Date.now() - started) / 1000).toFixed(1)}s: ${installedVersions(packages).join(", ")}`,
  );
  return [];
}

/** Runs apt-get non-interactively; returns its error output on failure. */
function apt(args: string[]): string | undefined {
  const result = spawnSync("apt-get", ["-o", "DPkg::Lock::Timeout=300", ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    timeout: APT_TIMEOUT_MS,
  });
  if (result.status === 0) return undefined;
  const detail = result.error?.message ?? result.stderr.trim().split("\n").slice(-3).join(" ");
  return `apt-get ${args[0]} exited ${result.status ?? result.signal}: ${detail}`;
}

/** `package version` of each installed package, as dpkg knows it. */
export function installedVersions(packages: readonly string[]): string[] {
  const result = spawnSync("dpkg-query", ["-W", "-f=${Package} ${Version}\\n", ...packages], {
    encoding: "utf8",
    timeout: 30_000,
  });
  return result.stdout.trim().split("\n").filter(Boolean);
}

/**
 * Why this machine cannot run the node, or `undefined` when it can: not root, or packages missing
 * that could not be installed. Installs what is missing when it may ({@link ensureRequirements}).
 */
export function nodeBlocker(say: (line: string) => void): string | undefined {
  const uid = process.getuid?.();
  const missing = uid === 0 ? ensureRequirements(["node"], say) : missingRequirements(["node"]);
  const reasons = [
    ...(uid === 0 ? [] : [`root (running as uid ${uid})`]),
    ...(missing.length > 0 ? [describeMissing(missing)] : []),
  ];
  return reasons.length > 0 ? `this machine cannot run the node: ${reasons.join("; ")}` : undefined;
}
