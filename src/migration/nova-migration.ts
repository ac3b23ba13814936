/**
 * What Nova records about one request's migration: its migration record (the one migbot adopted,
 * else the one in progress, else the newest since the trigger), what its status means for the
 * tracker, and what the destination's hypervisor reports free for the reservation reply.
 */
import { POST_COPY_STATUS } from "../nova-facts";
import type { NovaHypervisor, NovaMigration, NovaPort } from "../openstack/port";
import type { MigrationView } from "./view";

/** Nova may take a moment to create the migration record after accepting the request. */
export const MIGRATION_RECORD_WAIT_MS = 60_000;
/** Nova stores timestamps in UTC without a zone, on its own clock: a record this much older still counts. */
const NOVA_CLOCK_SKEW_MS = 120_000;

const NOVA_FINAL_OK = new Set(["completed", "done", "finished", "confirmed"]);
const NOVA_FINAL_FAILED = new Set(["error", "failed"]);
const NOVA_FINAL_CANCELLED = new Set(["cancelled", "aborted"]);

/** What a Nova migration status means to the tracker. */
export type NovaStage =
  | "failed"
  | "cancelled"
  | "completed"
  | "preparing"
  | "running"
  | "post-migrating"
  /** `running (post-copy)`: the VM already runs on the destination, pulling the rest on demand. */
  | "post-copy"
  | "other";

/** Reads a Nova migration status (case aside, as Nova's releases spell them). */
export function novaStage(status: string): NovaStage {
  const s = status.toLowerCase();
  if (NOVA_FINAL_FAILED.has(s)) return "failed";
  if (NOVA_FINAL_CANCELLED.has(s)) return "cancelled";
  if (NOVA_FINAL_OK.has(s)) return "completed";
  if (s === POST_COPY_STATUS) return "post-copy";
  if (s === "preparing" || s === "running" || s === "post-migrating") return s;
  return "other";
}

/**
 * The Nova migration record for this request: the adopted one (by id) when known, else the
 * in-progress one, else the newest created since `since` (ms since epoch, the trigger).
 */
export async function findNovaMigration(
  nova: NovaPort,
  serverId: string,
  knownId: number | null,
  since: number,
): Promise<NovaMigration | null> {
  if (knownId !== null) {
    const m = await nova.getServerMigration(serverId, knownId);
    if (m) return m;
    const all = await nova.listMigrations({ instanceUuid: serverId, migrationType: "live-migration" });
    return all.find((x) => x.id === knownId) ?? null;
  }
  const running = await nova.listServerMigrations(serverId);
  if (running.length > 0) return running.reduce((a, b) => (a.id > b.id ? a : b));
  const all = await nova.listMigrations({ instanceUuid: serverId, migrationType: "live-migration" });
  const fresh = all.filter(
    (m) => Date.parse(`${m.createdAt.replace(/Z?$/, "Z")}`) >= since - NOVA_CLOCK_SKEW_MS,
  );
  return fresh.length > 0 ? fresh.reduce((a, b) => (a.id > b.id ? a : b)) : null;
}

/** What the destination's hypervisor reports free, for the reservation reply (nulls where Nova is silent). */
export function reservationOf(
  hypervisors: NovaHypervisor[],
  destination: string,
): NonNullable<MigrationView["reservation"]> {
  const hv = hypervisors.find((h) => h.serviceHost === destination || h.hostname === destination);
  if (!hv) return { freeRamMb: null, freeVcpus: null, hypervisorState: null };
  return {
    freeRamMb:
      hv.freeRamMb ??
      (hv.memoryMb !== null && hv.memoryMbUsed !== null ? hv.memoryMb - hv.memoryMbUsed : null),
    freeVcpus: hv.vcpus !== null && hv.vcpusUsed !== null ? hv.vcpus - hv.vcpusUsed : null,
    hypervisorState: hv.state,
  };
}
