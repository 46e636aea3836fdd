// The Pepr controller image that cluster/image/build.sh builds: its config and layout read from the
// archive, and node + pepr started from it with Debian's runc as the image's user, before any node.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { buildControllerImage, buildModule } from "../../../cluster";
import { ControllerImage } from "../../../cluster/image";
import { BUILD_TIMEOUT_MS, Layout, openLayout, runInBundle, unpackBundle } from "./image-bundle";
import type { V1Deployment } from "@kubernetes/client-node";
import { manifestObjects } from "../manifest-objects";

const UID = 65532;
const CONTAINER = `hpsr-image-test-${process.pid}`;

/** The Deployment image that `npx pepr build` wrote into the module's manifest. */
function deployedImage(): string {
  const deployment = manifestObjects<V1Deployment>(buildModule().manifest).find(
    d => d.kind === "Deployment",
  );
  return deployment?.spec?.template.spec?.containers[0].image ?? "";
}

describe("the controller image (cluster/image/build.sh)", () => {
  let image: ControllerImage;
  let dir: string;
  let layout: Layout;

  beforeAll(async () => {
    image = await buildControllerImage();
    dir = mkdtempSync(path.join(os.tmpdir(), "hpsr-image-"));
    layout = openLayout(image.archive, path.join(dir, "layout"));
  }, BUILD_TIMEOUT_MS);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("is named exactly as `npx pepr build` names the watcher's image, and only so", () => {
    expect(image.name).toBe("ghcr.io/defenseunicorns/pepr/controller:v1.1.4");
    expect(deployedImage()).toBe(image.name);
    expect(layout.index.manifests.map(m => m.annotations)).toEqual([
      { "org.opencontainers.image.ref.name": image.name },
    ]);
    expect(layout.index.manifests[0].digest).toBe(image.manifest);
  });

  it("has Pepr's Dockerfile config: USER 65532, WORKDIR /app, node as the entrypoint, no Cmd", () => {
    const { config } = layout;
    expect([config.os, config.architecture]).toEqual(["linux", "amd64"]);
    expect(config.config.User).toBe(String(UID));
    expect(config.config.WorkingDir).toBe("/app");
    expect(config.config.Entrypoint).toEqual(["/usr/local/bin/node"]);
    expect(config.config.Cmd).toBeUndefined();
    expect(layout.manifest.layers.map(l => l.mediaType)).toEqual(
      Array(3).fill("application/vnd.oci.image.layer.v1.tar+gzip"),
    );
  });

  describe("unpacked with umoci", () => {
    let rootfs: string;
    const bundle = () => path.join(dir, "bundle");

    beforeAll(() => {
      rootfs = unpackBundle(layout, image.name, bundle());
    });

    it("holds pepr 1.1.4 in /app/node_modules, owned by 65532 like /app", () => {
      for (const p of ["app", "app/node_modules", "app/node_modules/pepr/dist/controller.js"]) {
        const st = statSync(path.join(rootfs, p));
        expect({ path: p, uid: st.uid, gid: st.gid }).toEqual({ path: p, uid: UID, gid: UID });
      }
      const pepr = JSON.parse(
        readFileSync(path.join(rootfs, "app/node_modules/pepr/package.json"), "utf8"),
      );
      expect(pepr.version).toBe("1.1.4");
      // Pepr's Dockerfile removes CLI-only packages and every *.ts file
      expect(existsSync(path.join(rootfs, "app/node_modules/ts-morph"))).toBe(false);
      expect(existsSync(path.join(rootfs, "app/node_modules/pepr/src"))).toBe(true);
      expect(existsSync(path.join(rootfs, "app/node_modules/pepr/src/lib/assets/assets.ts"))).toBe(
        false,
      );
    });

    it("runs the Deployment's args with node as 65532: pepr loads, the CRD apply needs a cluster", () => {
      const hash = "0".repeat(64);
      const result = runInBundle(bundle(), CONTAINER, [
        "/app/node_modules/pepr/dist/controller.js",
        hash,
      ]);
      const records = result.stdout
        .trim()
        .split("\n")
        .map(line => JSON.parse(line));
      expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 1, stderr: "" });
      expect(records.map(r => [r.msg, r.err?.message])).toEqual([
        [
          "Error starting Pepr Store CRD",
          "HTTP protocol is not allowed when skipTLSVerify is not set or false",
        ],
      ]);
    });

    it("loads the whole pepr library, as the module that the controller forks does", () => {
      const script =
        'const p = require("pepr"); console.log(typeof p.PeprModule, require("pepr/package.json").version, process.getuid(), process.version)';
      const result = runInBundle(bundle(), CONTAINER, ["/usr/local/bin/node", "-e", script], {
        replaceEntrypoint: true,
      });
      expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: "" });
      expect(result.stdout).toMatch(/^function 1\.1\.4 65532 v22\.\d+\.\d+\n$/);
    });
  });

  it(
    "takes another name for `npx pepr deploy -i <name>`",
    async () => {
      const other = await buildControllerImage({
        name: "localhost/hpsr/pepr-controller:test",
        onProgress: () => undefined,
      });
      const otherDir = path.join(dir, "other");
      const { index } = openLayout(other.archive, otherDir);
      expect(
        index.manifests.map(m => m.annotations?.["org.opencontainers.image.ref.name"]),
      ).toEqual(["localhost/hpsr/pepr-controller:test"]);
      expect(other.archive).not.toBe(image.archive);
    },
    BUILD_TIMEOUT_MS,
  );
});
