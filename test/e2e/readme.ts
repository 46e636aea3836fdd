// The commands of a README.md section, read from the README itself (markdown-it's tokens) so that
// a test that runs them cannot drift from what users read.
import { readFileSync } from "node:fs";
import path from "node:path";

import MarkdownIt from "markdown-it";

import { repoRoot, waitFor } from "../../cluster";
import { OBSERVED_TIMEOUT_MS } from "./scenario";

/** What a README section shows as commands. */
export interface SectionCommands {
  /** The section's fenced `sh` blocks, each as command lines: `\`-continued lines joined. */
  blocks: string[][];
  /** The section's inline code spans that start with `prefix` (e.g. "kubectl "). */
  inline(prefix: string): string[];
}

/**
 * The fenced `sh` blocks and inline code of the `## heading` section of README.md.
 *
 * @throws when README.md has no such section
 */
export function readmeSection(heading: string, file = path.join(repoRoot(), "README.md")) {
  const tokens = new MarkdownIt().parse(readFileSync(file, "utf8"), {});
  const start = tokens.findIndex(
    (t, i) => t.type === "heading_open" && t.tag === "h2" && tokens[i + 1]?.content === heading,
  );
  if (start < 0) throw new Error(`${file} has no section "## ${heading}"`);
  const rest = tokens.slice(start + 1);
  const end = rest.findIndex(t => t.type === "heading_open" && t.tag === "h2");
  const section = end < 0 ? rest : rest.slice(0, end);
  const blocks = section
    .filter(t => t.type === "fence" && t.info.trim() === "sh")
    .map(t =>
      t.content
        .replace(/\\\n\s*/g, "")
        .split("\n")
        .filter(line => line.trim() !== ""),
    );
  const spans = section
    .flatMap(t => t.children ?? [])
    .filter(t => t.type === "code_inline")
    .map(t => t.content);
  return {
    blocks,
    inline: (prefix: string) => spans.filter(span => span.startsWith(prefix)),
  } satisfies SectionCommands;
}

/**
 * Runs one README line as a user does: `run()` once, but the `kubectl logs` line (which prints
 * the record only once the watcher has logged it) again each second until it exits 0.
 */
export async function runAsUser<R extends { code: number | null }>(
  line: string,
  run: () => Promise<R>,
): Promise<R> {
  if (!line.startsWith("kubectl logs ")) return run();
  return waitFor(
    `README's "${line}" to print the record`,
    async () => {
      const r = await run();
      return r.code === 0 ? r : undefined;
    },
    OBSERVED_TIMEOUT_MS,
    1000,
  );
}
