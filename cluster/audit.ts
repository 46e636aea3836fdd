// The local control plane's audit log (one JSON audit.k8s.io/v1 Event per line), read
// incrementally: tests and the benchmark read it again and again, and the benchmark's prefill
// PATCHes are logged with their bodies (hundreds of KB each), so re-reading the whole file each
// time would grow quadratically. The one audit-log reader of the project.
import { closeSync, openSync, readSync, statSync } from "node:fs";

import { moduleUUID, PEPR_STORE_GVK, storeName } from "../store/contract";
import type { ControlPlane } from "./controlplane";

/** One audit event (audit.k8s.io/v1 Event), the fields the tests and the benchmark use. */
export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code: number };
  requestObject?: unknown;
  requestReceivedTimestamp: string;
  stageTimestamp: string;
}

/** The user agent of kubernetes-fluent-client, the watcher's API client (seen in the audit log). */
export const WATCHER_USER_AGENT = "kubernetes-fluent-client";

/** An audit event with the fields the benchmark reads, and its times as ms since the epoch. */
export interface Audited extends AuditEvent {
  auditID: string;
  userAgent?: string;
  /** `requestReceivedTimestamp` in ms (microseconds kept as the fraction). */
  receivedMs: number;
  /** `stageTimestamp` in ms (microseconds kept as the fraction). */
  stageMs: number;
}

/**
 * Parses an RFC 3339 timestamp with up to nanosecond precision, as the audit log writes it.
 *
 * @returns ms since the epoch, sub-millisecond digits as the fraction
 * @throws Error when `ts` is not such a timestamp
 */
export function parseMicroTime(ts: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(ts);
  if (!m) throw new Error(`audit log: cannot parse timestamp ${JSON.stringify(ts)}`);
  const fraction = m[2] ? Number(`0.${m[2]}`) * 1000 : 0;
  return Date.parse(`${m[1]}Z`) + fraction;
}

/** Which events keep their request body (`requestObject`). */
export type KeepBody = (e: Audited) => boolean;

/** The default of {@link AuditTail}: the watcher's requests only ({@link WATCHER_USER_AGENT}). */
export const WATCHER_BODIES: KeepBody = e => e.userAgent === WATCHER_USER_AGENT;

/**
 * Follows an audit log file: `poll()` returns the events appended since the last call. Request
 * bodies are kept where `keepBody` says (default {@link WATCHER_BODIES}: the benchmark's prefill
 * bodies are large and unused).
 */
export class AuditTail {
  #offset = 0;
  #partial = "";
  readonly events: Audited[] = [];

  constructor(
    readonly file: string,
    readonly keepBody: KeepBody = WATCHER_BODIES,
  ) {}

  /** Reads what was appended since the last call; returns the new events (also in `events`). */
  poll(): Audited[] {
    const size = statSync(this.file).size;
    if (size <= this.#offset) return [];
    const fd = openSync(this.file, "r");
    const buf = Buffer.alloc(size - this.#offset);
    try {
      readSync(fd, buf, 0, buf.length, this.#offset);
    } finally {
      closeSync(fd);
    }
    this.#offset = size;
    const lines = (this.#partial + buf.toString("utf8")).split("\n");
    this.#partial = lines.pop() ?? "";
    const fresh: Audited[] = [];
    for (const line of lines) {
      if (line.trim() === "") continue;
      const e = JSON.parse(line) as Audited;
      if (!this.keepBody(e)) delete e.requestObject;
      e.receivedMs = parseMicroTime(e.requestReceivedTimestamp);
      e.stageMs = parseMicroTime(e.stageTimestamp);
      fresh.push(e);
    }
    this.events.push(...fresh);
    return fresh;
  }

  /** Every event so far, polling the file first. */
  all(): Audited[] {
    this.poll();
    return this.events;
  }

  /** Completed requests matching `match`, polling the file first. */
  completed(match: (e: Audited) => boolean): Audited[] {
    this.poll();
    return this.events.filter(e => e.stage === "ResponseComplete" && match(e));
  }
}

/** The watcher's completed PATCHes to the PeprStore `name` received in [fromMs, toMs). */
export function watcherPatches(
  audit: AuditTail,
  name: string,
  fromMs: number,
  toMs = Infinity,
): Audited[] {
  return audit.completed(
    e =>
      e.userAgent === WATCHER_USER_AGENT &&
      e.verb === "patch" &&
      e.objectRef?.resource === PEPR_STORE_GVK.plural &&
      e.objectRef.name === name &&
      e.receivedMs >= fromMs &&
      e.receivedMs < toMs,
  );
}

/** One row of the start-up call table: a verb on a path, how often, with which status codes. */
export interface CallCount {
  verb: string;
  path: string;
  count: number;
  codes: number[];
}

/**
 * Counts the watcher's API calls received in [fromMs, toMs): one per audit ID (a watch has a
 * ResponseStarted event and, once closed, a ResponseComplete one).
 */
export function watcherCalls(audit: AuditTail, fromMs: number, toMs: number): CallCount[] {
  audit.poll();
  const seen = new Map<string, Audited>();
  for (const e of audit.events) {
    if (e.userAgent !== WATCHER_USER_AGENT) continue;
    if (e.receivedMs < fromMs || e.receivedMs >= toMs) continue;
    if (!seen.has(e.auditID)) seen.set(e.auditID, e);
  }
  const rows = new Map<string, CallCount>();
  for (const e of seen.values()) {
    const url = new URL(e.requestURI, "https://x");
    const selector = url.searchParams.get("fieldSelector");
    const path = url.pathname + (selector ? ` (${selector})` : "");
    const key = `${e.verb} ${path}`;
    const row = rows.get(key) ?? { verb: e.verb, path, count: 0, codes: [] };
    row.count++;
    const code = e.responseStatus?.code;
    if (code !== undefined && !row.codes.includes(code)) row.codes.push(code);
    rows.set(key, row);
  }
  return [...rows.values()];
}

const tails = new WeakMap<ControlPlane, AuditTail>();

/**
 * The audit log of a local control plane, every request body kept, one {@link AuditTail} per
 * control plane, so each read only parses what was appended since the last one.
 *
 * @throws Error on an existing cluster (USE_EXISTING_CLUSTER), whose audit log is not ours
 */
export function auditLog(cp: ControlPlane): AuditTail {
  if (!cp.local) throw new Error("the audit log is only available on the local control plane");
  let tail = tails.get(cp);
  if (!tail) {
    tail = new AuditTail(cp.local.auditLog, () => true);
    tails.set(cp, tail);
  }
  return tail;
}

/** Completed PATCH requests (by anyone) to the PeprStore `name`, in order. */
export function storePatches(audit: AuditTail, name = storeName(moduleUUID())): Audited[] {
  return audit.completed(
    e =>
      e.verb === "patch" &&
      e.objectRef?.resource === PEPR_STORE_GVK.plural &&
      e.objectRef.name === name,
  );
}
