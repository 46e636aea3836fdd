// How the CLI prints a store and its changes: table (default), JSON or YAML. Pure functions.
import { stringify } from "yaml";

import { CACHE_ID_LABEL } from "./contract";
import { byCodeUnits } from "./decode";
import type { StoreChangeEvent, StoreSnapshot } from "./read";

/** The output formats of the CLI's `-o`. */
export const OUTPUT_FORMATS = ["table", "json", "yaml"] as const;
/** One of {@link OUTPUT_FORMATS}. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** A {@link StoreSnapshot} as JSON/YAML: the same fields, `lastFlush` as an ISO 8601 string. */
export interface SnapshotDocument extends Omit<StoreSnapshot, "lastFlush"> {
  lastFlush: string | null;
}

/** A {@link StoreChangeEvent} as JSON/YAML: `time` as an ISO 8601 string. */
export interface ChangeDocument extends Omit<StoreChangeEvent, "time"> {
  time: string;
}

/**
 * The snapshot as a plain object for JSON and YAML.
 *
 * @param snapshot - what readStore returned
 * @returns the document, fields in a fixed order
 */
export function snapshotDocument(snapshot: StoreSnapshot): SnapshotDocument {
  return {
    name: snapshot.name,
    namespace: snapshot.namespace,
    resourceVersion: snapshot.resourceVersion,
    lastFlush: snapshot.lastFlush?.toISOString() ?? null,
    capabilities: snapshot.capabilities,
    unrecognized: snapshot.unrecognized,
  };
}

/**
 * Prints a snapshot.
 *
 * @param snapshot - what readStore returned
 * @param format - table, json or yaml
 * @returns the text, ending with a newline
 */
export function formatSnapshot(snapshot: StoreSnapshot, format: OutputFormat): string {
  if (format === "json") return `${JSON.stringify(snapshotDocument(snapshot), null, 2)}\n`;
  if (format === "yaml") return stringify(snapshotDocument(snapshot));
  return formatTable(snapshot);
}

/** Whether a string is shown as a JSON string so that it stays visible and on one line. */
function needsQuotes(text: string): boolean {
  if (text === "" || text.trim() !== text || text.startsWith('"')) return true;
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    if (code < 0x20 || code === 0x7f || code === 0x2028 || code === 0x2029) return true;
  }
  return false;
}

/**
 * A key or value for the table: as is, or as a JSON string when it is empty, has surrounding
 * whitespace or control characters (newlines, tabs), or starts with a double quote.
 *
 * @param text - the key or value
 * @returns the text to print
 */
export function displayText(text: string): string {
  return needsQuotes(text) ? JSON.stringify(text) : text;
}

/** Columns separated by two spaces, padded by code points; the last column is not padded. */
function columns(rows: string[][]): string[] {
  const width = (s: string): number => [...s].length;
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => width(r[i]))));
  return rows.map(r =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell + " ".repeat(widths[i] - width(cell))))
      .join("  "),
  );
}

/**
 * The table view: a header line with the CR's name, resourceVersion and last flush, then one row
 * per key (capability, key, value), then the unmigrated and unrecognized keys if there are any.
 *
 * @param snapshot - what readStore returned
 * @returns the table, ending with a newline
 */
export function formatTable(snapshot: StoreSnapshot): string {
  const flush = snapshot.lastFlush
    ? `last flush ${snapshot.lastFlush.toISOString()}`
    : `last flush unknown (no ${CACHE_ID_LABEL} label)`;
  const lines = [
    `PeprStore ${snapshot.namespace}/${snapshot.name} (resourceVersion ${snapshot.resourceVersion}), ${flush}`,
    "",
  ];
  const rows = (part: "items" | "unmigrated"): string[][] =>
    Object.entries(snapshot.capabilities).flatMap(([capability, data]) =>
      Object.entries(data[part])
        .sort(([a], [b]) => byCodeUnits(a, b))
        .map(([key, value]) => [capability, displayText(key), displayText(value)]),
    );

  const items = rows("items");
  if (items.length === 0) lines.push("No keys.");
  else lines.push(...columns([["CAPABILITY", "KEY", "VALUE"], ...items]));

  const unmigrated = rows("unmigrated");
  if (unmigrated.length > 0) {
    lines.push(
      "",
      "Unmigrated keys (format before v2; Pepr migrates them when the module starts):",
      ...columns([["CAPABILITY", "KEY", "VALUE"], ...unmigrated]),
    );
  }

  const unrecognized = Object.entries(snapshot.unrecognized)
    .sort(([a], [b]) => byCodeUnits(a, b))
    .map(([key, value]) => [displayText(key), displayText(value)]);
  if (unrecognized.length > 0) {
    lines.push(
      "",
      "Keys that match no capability:",
      ...columns([["KEY", "VALUE"], ...unrecognized]),
    );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * A change as a plain object for JSON and YAML.
 *
 * @param change - what watchStore reported
 * @returns the document, fields in a fixed order, `value`/`previous` only when they apply
 */
export function changeDocument(change: StoreChangeEvent): ChangeDocument {
  return {
    time: change.time.toISOString(),
    type: change.type,
    capability: change.capability,
    key: change.key,
    ...(change.value !== undefined ? { value: change.value } : {}),
    ...(change.previous !== undefined ? { previous: change.previous } : {}),
    unmigrated: change.unmigrated,
    resourceVersion: change.resourceVersion,
  };
}

/**
 * Prints one change: for table one line, `<time> <type> <capability> <key>=<value>` with
 * ` (was <previous>)` for changed and removed keys and ` [unmigrated]` for keys before v2; for
 * json one JSON object per line; for yaml one document starting with `---`.
 *
 * @param change - what watchStore reported
 * @param format - table, json or yaml
 * @returns the text, ending with a newline
 */
export function formatChange(change: StoreChangeEvent, format: OutputFormat): string {
  if (format === "json") return `${JSON.stringify(changeDocument(change))}\n`;
  if (format === "yaml") return `---\n${stringify(changeDocument(change))}`;
  const key = change.key.includes("=") ? JSON.stringify(change.key) : displayText(change.key);
  const what = change.type === "removed" ? key : `${key}=${displayText(change.value ?? "")}`;
  const was = change.type === "added" ? "" : ` (was ${displayText(change.previous ?? "")})`;
  const tag = change.unmigrated ? " [unmigrated]" : "";
  return `${change.time.toISOString()} ${change.type.padEnd(7)} ${change.capability} ${what}${was}${tag}\n`;
}
