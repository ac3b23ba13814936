/** Recent live-migration failures in nova-compute's log on the hosts involved, newest first. */
import { type NovaLogEvent, parseNovaComputeLog } from "../../migration/samples/nova-log";
import type { Evidence, HostEvidence } from "../evidence";
import type { Finding, FindingStatus } from "./finding";
import type { Problems } from "./problems";

/** Log lines quoted per finding at most (newest first). */
export const MAX_QUOTED_LOG_EVENTS = 6;

const FAILURE_KINDS = new Set<NovaLogEvent["kind"]>([
  "failure",
  "aborted",
  "cancelled",
  "stuck",
  "completion-timeout",
  "pre-check-error",
  "pre-migration-failed",
  "post-migration-failed",
  "abort-failed",
]);

/** The `log-failures` finding. */
export function logFinding(ev: Evidence, hosts: HostEvidence[], problems: Problems): Finding {
  const taken = hosts.flatMap((h) => problems.take(["log"], h.name));
  const uuid = ev.server?.id.toLowerCase();
  const found: { host: string; e: NovaLogEvent }[] = [];
  let others = 0;
  for (const h of hosts) {
    if (!h.log) continue;
    for (const e of parseNovaComputeLog(h.log.text).events) {
      if (!FAILURE_KINDS.has(e.kind)) continue;
      if (uuid && e.instanceUuid && e.instanceUuid !== uuid) {
        others++;
        continue;
      }
      found.push({ host: h.name, e });
    }
  }
  found.sort((a, b) => (b.e.timestamp ?? "").localeCompare(a.e.timestamp ?? ""));
  const read = hosts.filter((h) => h.log).map((h) => `${h.name}:${h.log!.path}`);
  const evidence: string[] = [];
  for (const { host, e } of found.slice(0, MAX_QUOTED_LOG_EVENTS)) {
    evidence.push(
      `${e.timestamp ?? "(no timestamp)"} ${host} ${e.level ?? ""} ${e.message}`.replace(/\s+/g, " "),
    );
  }
  if (found.length > MAX_QUOTED_LOG_EVENTS)
    evidence.push(`… and ${found.length - MAX_QUOTED_LOG_EVENTS} older ones.`);
  if (others > 0) evidence.push(`${others} failure line(s) about other instances were left out.`);
  if (found.length === 0 && read.length > 0) {
    evidence.push(
      `No live-migration failures${uuid ? ` of ${ev.server!.name}` : ""} in the last lines of ${read.join(", ")}.`,
    );
  }
  evidence.push(...taken);
  const status: FindingStatus = found.length > 0 || taken.length > 0 ? "warn" : "pass";
  return {
    id: "log-failures",
    title: "Recent live-migration failures in nova-compute's log",
    status,
    evidence,
  };
}
