/**
 * Where a migration's state lives between polls and across worker restarts: one JSON record per
 * job in Redis, plus the per-VM lock that keeps two migrations of one VM from starting.
 */
import type { Redis } from "ioredis";
import type { MigrationView, PredictDecision } from "./view";

/** How far the trigger got: a resumed worker must never send a second live-migrate. */
export type TriggerState = "none" | "triggering" | "triggered";

export interface MigrationRecord {
  view: MigrationView;
  trigger: { state: TriggerState; at: number | null };
  /** ts of the root message and of each phase reply, once posted. */
  posts: Record<string, string>;
  /** The phase replies already posted, in order. */
  postedPhases: string[];
  notConvergingPosted: boolean;
  failurePosted: boolean;
}

/** Finished records are kept this long for `/migrate status` and the audit of a thread. */
export const RECORD_TTL_S = 7 * 24 * 3600;
/** A VM lock outlives a crashed bot by at most this long; a live job renews it. */
export const VM_LOCK_TTL_S = 6 * 3600;

/** Job ids whose index entry this process has written; forgotten in bulk past this many (then written once more). */
const INDEXED_JOBS_REMEMBERED = 10_000;

export class MigrationStore {
  private readonly indexed = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(jobId: string): string {
    return `${this.prefix}:migration:${jobId}`;
  }

  private vmKey(vm: string): string {
    return `${this.prefix}:active-vm:${vm.toLowerCase()}`;
  }

  async load(jobId: string): Promise<MigrationRecord | null> {
    const raw = await this.redis.get(this.key(jobId));
    return raw === null ? null : (JSON.parse(raw) as MigrationRecord);
  }

  /**
   * Saves the record (`json`: its serialization, when the caller has it). The index of recent
   * migrations is written with a job's first save in this process only: its score never changes,
   * and a tracker saves hundreds of times (the track bench: a MULTI of SET + ZADD each time was a
   * tenth of a worker's CPU at 1,000 migrations).
   */
  async save(record: MigrationRecord, json: string = JSON.stringify(record)): Promise<void> {
    const jobId = record.view.jobId;
    if (this.indexed.has(jobId)) {
      await this.redis.set(this.key(jobId), json, "EX", RECORD_TTL_S);
      return;
    }
    await this.redis
      .multi()
      .set(this.key(jobId), json, "EX", RECORD_TTL_S)
      .zadd(`${this.prefix}:migrations`, record.view.startedAt, jobId)
      .exec();
    if (this.indexed.size >= INDEXED_JOBS_REMEMBERED) this.indexed.clear();
    this.indexed.add(jobId);
  }

  /** The most recent migrations, newest first. */
  async recent(limit: number): Promise<MigrationRecord[]> {
    const ids = await this.redis.zrevrange(`${this.prefix}:migrations`, 0, limit - 1);
    const out: MigrationRecord[] = [];
    for (const id of ids) {
      const r = await this.load(id);
      if (r) out.push(r);
    }
    return out;
  }

  /**
   * The most recent records as Redis holds them, newest first, parsed but not typed: for readers that
   * check every field themselves (the Home tab). One round trip for all of them.
   */
  async recentUnchecked(limit: number): Promise<unknown[]> {
    const ids = await this.redis.zrevrange(`${this.prefix}:migrations`, 0, limit - 1);
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => this.key(id)));
    const out: unknown[] = [];
    for (const raw of raws) {
      if (raw === null) continue;
      try {
        out.push(JSON.parse(raw));
      } catch {
        out.push(undefined);
      }
    }
    return out;
  }

  /**
   * Claims a VM for a job. Returns the job id that holds it: this job's when the claim worked (or
   * when this job already held it — a duplicate delivery), another job's when the VM is busy.
   */
  async claimVm(vm: string, jobId: string): Promise<string> {
    const ok = await this.redis.set(this.vmKey(vm), jobId, "EX", VM_LOCK_TTL_S, "NX");
    if (ok === "OK") return jobId;
    return (await this.redis.get(this.vmKey(vm))) ?? jobId;
  }

  async renewVm(vm: string, jobId: string): Promise<void> {
    const holder = await this.redis.get(this.vmKey(vm));
    if (holder === jobId) await this.redis.expire(this.vmKey(vm), VM_LOCK_TTL_S);
  }

  /** Releases a VM only if this job holds it. */
  async releaseVm(vm: string, jobId: string): Promise<void> {
    await this.redis.eval(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
      1,
      this.vmKey(vm),
      jobId,
    );
  }

  async vmHolder(vm: string): Promise<string | null> {
    return this.redis.get(this.vmKey(vm));
  }

  /** The jobs holding these VMs' locks (null where none), in one round trip. */
  async vmHolders(vms: readonly string[]): Promise<(string | null)[]> {
    if (vms.length === 0) return [];
    return this.redis.mget(vms.map((vm) => this.vmKey(vm)));
  }

  /**
   * Records that a person pressed Abort or Force complete. Kept apart from the record, which only
   * the tracker writes, so that the two never overwrite each other.
   */
  async setControl(jobId: string, control: NonNullable<MigrationView["control"]>): Promise<boolean> {
    const ok = await this.redis.set(
      `${this.key(jobId)}:control`,
      JSON.stringify(control),
      "EX",
      RECORD_TTL_S,
      "NX",
    );
    return ok === "OK";
  }

  /** Records the requester's Fix first / Go anyway choice; only the first one counts (SET NX). */
  async setDecision(
    jobId: string,
    decision: { choice: PredictDecision; by: string; at: number },
  ): Promise<boolean> {
    const ok = await this.redis.set(
      `${this.key(jobId)}:decision`,
      JSON.stringify(decision),
      "EX",
      RECORD_TTL_S,
      "NX",
    );
    return ok === "OK";
  }

  /** The choice recorded for a migration, checked field by field (Redis contents are untrusted). */
  async getDecision(jobId: string): Promise<{ choice: PredictDecision; by: string; at: number } | null> {
    const raw = await this.redis.get(`${this.key(jobId)}:decision`);
    if (raw === null) return null;
    try {
      const d = JSON.parse(raw) as { choice?: unknown; by?: unknown; at?: unknown };
      if (
        (d.choice === "fix-first" || d.choice === "go-anyway") &&
        typeof d.by === "string" &&
        typeof d.at === "number"
      )
        return { choice: d.choice, by: d.by, at: d.at };
    } catch {
      // Not ours: treated as no choice.
    }
    return null;
  }

  async getControl(jobId: string): Promise<MigrationView["control"]> {
    const raw = await this.redis.get(`${this.key(jobId)}:control`);
    return raw === null ? null : (JSON.parse(raw) as MigrationView["control"]);
  }
}
