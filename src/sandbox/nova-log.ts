/**
 * nova-compute log lines in oslo.log's default format, as each release writes them:
 * `2016-05-13 10:12:33.123 4242 INFO nova.virt.libvirt.driver [req-<uuid> - - - - -] [instance: <uuid>] <message>`.
 * Mitaka's request context shows five fields; newer releases prefix the global request id
 * (`None`) and show six (see the Zed lines in fixtures/logs/).
 */
import { randomUUID } from "node:crypto";

export type NovaLogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL";

export interface NovaLogEntry {
  time: Date;
  pid: number;
  level: NovaLogLevel;
  logger: string;
  /** `req-<uuid>`, or null for lines outside a request (`[-]`). */
  requestId: string | null;
  instanceUuid?: string | null;
  message: string;
}

/** A fresh request id, as nova's RequestContext makes one. */
export function newRequestId(): string {
  return `req-${randomUUID()}`;
}

function timestamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(
    d.getUTCMinutes(),
  )}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}`;
}

/** The lines (each ending in a newline) one log call writes; multi-line messages repeat the prefix. */
export function formatNovaLog(entry: NovaLogEntry, releaseMajor: number): string {
  const context =
    entry.requestId === null
      ? "[-]"
      : releaseMajor <= 13
        ? `[${entry.requestId} - - - - -]`
        : `[None ${entry.requestId} - - - - - -]`;
  const instance = entry.instanceUuid ? ` [instance: ${entry.instanceUuid}]` : "";
  const prefix = `${timestamp(entry.time)} ${entry.pid} ${entry.level} ${entry.logger} ${context}${instance} `;
  return entry.message
    .split("\n")
    .map((line) => `${prefix}${line}\n`)
    .join("");
}
