// cluster/requirements.ts: what the machine needs, stated once, and the one line a run prints when
// it cannot install it. PATH is pointed at an empty folder, so every program is missing; the uid
// is mocked, so nothing here installs a package.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import {
  describeMissing,
  ensureRequirements,
  missingRequirements,
  nodeBlocker,
  packagesOf,
  REQUIREMENTS,
} from "../../cluster/requirements";

describe("the host requirements", () => {
  const savedPath = process.env.PATH;
  let emptyDir: string;

  beforeEach(() => {
    emptyDir = mkdtempSync(path.join(os.tmpdir(), "hpsr-empty-path-"));
    process.env.PATH = emptyDir;
  });

  afterEach(() => {
    process.env.PATH = savedPath;
    rmSync(emptyDir, { recursive: true, force: true });
    jest.restoreAllMocks();
  });

  it("states each program, its Debian package and which runs need it, once", () => {
    expect(REQUIREMENTS.map(r => [r.provides, r.debian, r.neededBy.join("+")])).toEqual([
      ["runc", "runc", "node"],
      ["iptables", "iptables", "node"],
      ["conntrack", "conntrack", "node"],
      ["/usr/lib/cni/bridge", "containernetworking-plugins", "node"],
      ["gcc", "gcc", "node"],
      ["/usr/include/stdio.h", "libc6-dev", "node"],
      ["umoci", "umoci", "node+image"],
      ["openssl", "openssl", "watcher+e2e"],
      ["ip", "iproute2", "e2e"],
      ["unshare", "util-linux", "e2e"],
    ]);
  });

  it("finds programs on PATH only: with an empty PATH every program of a need is missing", () => {
    expect(missingRequirements(["e2e"]).map(r => r.provides)).toEqual(["openssl", "ip", "unshare"]);
    expect(missingRequirements(["image"]).map(r => r.provides)).toEqual(["umoci"]);
  });

  it("names what is missing and the apt-get line that installs it, each package once", () => {
    const missing = REQUIREMENTS.filter(r => r.debian === "iptables" || r.debian === "umoci");
    expect(packagesOf([...missing, ...missing])).toEqual(["iptables", "umoci"]);
    expect(describeMissing(missing)).toBe(
      "missing iptables, umoci (install: apt-get install iptables umoci)",
    );
  });

  it("installs nothing and says nothing when not root", () => {
    jest.spyOn(process, "getuid").mockReturnValue(1000);
    const said: string[] = [];
    const missing = ensureRequirements(["watcher"], line => said.push(line));
    expect(missing.map(r => r.provides)).toEqual(["openssl"]);
    expect(said).toEqual([]);
  });

  it("says in one line why the node cannot run without root", () => {
    jest.spyOn(process, "getuid").mockReturnValue(1000);
    // the files (CNI plugins, libc headers) may be on this machine; no program is on this PATH
    const missing = REQUIREMENTS.filter(
      r => r.neededBy.includes("node") && !(r.provides.startsWith("/") && existsSync(r.provides)),
    );
    expect(nodeBlocker(() => undefined)).toBe(
      "this machine cannot run the node: root (running as uid 1000); " +
        `missing ${missing.map(r => r.provides).join(", ")} ` +
        `(install: apt-get install ${missing.map(r => r.debian).join(" ")})`,
    );
  });
});
