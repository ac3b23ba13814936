/**
 * What happens while a proposal is applied, as typed events: stored with the proposal (JSON in
 * Redis) and rendered under its message by bot/render/proposal.ts. Names and details in them come
 * from Nova, the hosts and errors; they are plain data, escaped where they are shown.
 */

export type ProgressEvent =
  /** The worker applying this died; another one took the proposal over. */
  | { kind: "taken-over" }
  /** The stuck migration could not be aborted safely; nothing was changed. */
  | { kind: "abort-refused"; detail: string }
  /** The stuck migration had already stopped. */
  | { kind: "abort-not-needed"; vm: string }
  | { kind: "aborting"; vm: string; migrationId: number }
  | { kind: "aborted"; vm: string }
  /** One nova.conf file written, backed up, checked. */
  | {
      kind: "file-written";
      host: string;
      path: string;
      backup: string;
      owner: string;
      group: string;
      mode: string;
    }
  | { kind: "service-restarting"; host: string; service: string }
  /** nova-compute did not come up with the new config; the backup is being restored. */
  | { kind: "service-not-up"; host: string; service: string; detail: string }
  /** One host finished (or failed): the line that also ends up in the results. */
  | { kind: "host-done"; host: string; ok: boolean; detail: string }
  | { kind: "vm-batch"; batch: number; batches: number; vms: string[] }
  | { kind: "vm-done"; vm: string; ok: boolean; detail: string }
  /** A line stored by a migbot that kept progress as text (read back, never written any more). */
  | { kind: "legacy"; text: string };

/** Reports one event; the proposal's message is edited with it. */
export type ProgressSink = (event: ProgressEvent) => Promise<void>;

type Shape = Record<string, "string" | "number" | "boolean" | "strings">;

// The fields each kind must carry, so that what comes back from Redis is what the renderer expects.
const SHAPES: Record<ProgressEvent["kind"], Shape> = {
  "taken-over": {},
  "abort-refused": { detail: "string" },
  "abort-not-needed": { vm: "string" },
  aborting: { vm: "string", migrationId: "number" },
  aborted: { vm: "string" },
  "file-written": {
    host: "string",
    path: "string",
    backup: "string",
    owner: "string",
    group: "string",
    mode: "string",
  },
  "service-restarting": { host: "string", service: "string" },
  "service-not-up": { host: "string", service: "string", detail: "string" },
  "host-done": { host: "string", ok: "boolean", detail: "string" },
  "vm-batch": { batch: "number", batches: "number", vms: "strings" },
  "vm-done": { vm: "string", ok: "boolean", detail: "string" },
  legacy: { text: "string" },
};

function fits(value: unknown, type: Shape[string]): boolean {
  if (type === "strings") return Array.isArray(value) && value.every((v) => typeof v === "string");
  if (type === "number") return typeof value === "number" && Number.isFinite(value);
  return typeof value === type;
}

/**
 * Progress as read back from Redis, which is not trusted blindly: entries of a known kind with
 * the fields it needs are kept (with those fields only), text lines from before progress was
 * typed become `legacy` events, and anything else is dropped.
 */
export function readProgress(stored: unknown): ProgressEvent[] {
  if (!Array.isArray(stored)) return [];
  const out: ProgressEvent[] = [];
  for (const entry of stored) {
    if (typeof entry === "string") {
      out.push({ kind: "legacy", text: entry });
      continue;
    }
    if (entry === null || typeof entry !== "object") continue;
    const kind = (entry as { kind?: unknown }).kind;
    if (typeof kind !== "string" || !Object.hasOwn(SHAPES, kind)) continue;
    const shape = SHAPES[kind as ProgressEvent["kind"]];
    const picked: Record<string, unknown> = { kind };
    let ok = true;
    for (const [field, type] of Object.entries(shape)) {
      const value = (entry as Record<string, unknown>)[field];
      if (!fits(value, type)) {
        ok = false;
        break;
      }
      picked[field] = value;
    }
    if (ok) out.push(picked as ProgressEvent);
  }
  return out;
}
