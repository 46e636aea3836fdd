// A copy of this repository in a temporary folder, for what must not touch the checkout: a
// changed capability deployed with `npx pepr deploy`, or README commands such as `npm ci`.
import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";

import { repoRoot } from "../../../cluster";

export interface ModuleCopy {
  dir: string;
  /** Replaces `from` (which must occur exactly once) by `to` in the copy's file `file`. */
  edit(file: string, from: string, to: string): void;
  remove(): void;
}

/**
 * Copies the files git tracks, and the untracked ones it does not ignore, as they are in the
 * working tree (so no dist/, no node_modules/).
 *
 * @param options.linkNodeModules - symlink the checkout's node_modules (no `npm ci` needed)
 */
export function copyModule(options: { linkNodeModules?: boolean } = {}): ModuleCopy {
  const root = repoRoot();
  const dir = mkdtempSync(path.join(os.tmpdir(), "hpsr-module-copy-"));
  const files = execFileSync(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    {
      cwd: root,
      encoding: "utf8",
    },
  )
    .split("\0")
    .filter(file => file !== "" && existsSync(path.join(root, file))); // not the deleted ones
  for (const file of files) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    cpSync(path.join(root, file), path.join(dir, file));
  }
  if (options.linkNodeModules)
    symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"));
  return {
    dir,
    edit(file, from, to) {
      const target = path.join(dir, file);
      const text = readFileSync(target, "utf8");
      const count = text.split(from).length - 1;
      if (count !== 1)
        throw new Error(`${file} holds ${JSON.stringify(from)} ${count} times, not once`);
      writeFileSync(target, text.replace(from, to));
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
