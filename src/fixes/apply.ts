/**
 * Applies an approved nova.conf proposal, one host after another: never under a live migration on
 * that host (a stuck one named by the proposal is aborted first), re-read and compared with the
 * plan, backed up, written to a temp file in the same folder with the original's owner and mode,
 * renamed over, verified, nova-compute restarted and waited for; rolled back when it does not come up.
 */
import { randomBytes } from "node:crypto";
import type { AuditLog } from "../audit/stream";
import type { ServiceName } from "../hosts/catalogue";
import type { HostsPort } from "../hosts/port";
import type { Logger } from "../log";
import type { MigrationStore } from "../migration/store";
import type { ConfigFile } from "../nova-conf/effective";
import { liveMigrationUnfinished } from "../nova-facts";
import type { NovaMigration, NovaPort } from "../openstack/port";
import { sha256Hex } from "../signing/signatures";
import { FixError } from "./errors";
import type { ProgressSink } from "./progress";
import type { HostFileChange, Proposal } from "./proposal";
import { replayHostFix } from "./recipe";

/** Longest wait for nova-compute to report up after a restart. @defaultValue 180 000 */
export const NOVA_COMPUTE_UP_TIMEOUT_MS = 180_000;
/** How often the service is checked while waiting. */
export const SERVICE_POLL_INTERVAL_MS = 500;
/** Both signals (systemd active, Nova up) must hold this long: a config nova-compute cannot use kills it a few seconds after start. */
export const SERVICE_SETTLE_MS = 5_000;
/** systemd reports `failed` this many polls in a row: the unit will not come back on its own. */
export const SERVICE_FAILED_POLLS = 3;
/** Longest wait for an aborted migration to stop before anything is written. */
export const ABORT_WAIT_TIMEOUT_MS = 120_000;
export const ABORT_POLL_INTERVAL_MS = 500;
/** `systemctl restart` returns when the unit has started; a slow host gets this long. */
export const RESTART_COMMAND_TIMEOUT_MS = 120_000;
/** Bounds every wait loop in count as well as in time. */
const MAX_POLLS = 100_000;

export interface ApplyTiming {
  serviceUpTimeoutMs: number;
  servicePollIntervalMs: number;
  serviceSettleMs: number;
  abortWaitTimeoutMs: number;
  abortPollIntervalMs: number;
  restartCommandTimeoutMs: number;
}

export const DEFAULT_APPLY_TIMING: ApplyTiming = {
  serviceUpTimeoutMs: NOVA_COMPUTE_UP_TIMEOUT_MS,
  servicePollIntervalMs: SERVICE_POLL_INTERVAL_MS,
  serviceSettleMs: SERVICE_SETTLE_MS,
  abortWaitTimeoutMs: ABORT_WAIT_TIMEOUT_MS,
  abortPollIntervalMs: ABORT_POLL_INTERVAL_MS,
  restartCommandTimeoutMs: RESTART_COMMAND_TIMEOUT_MS,
};

export interface ApplyDeps {
  hosts: HostsPort;
  nova: Pick<NovaPort, "listMigrations" | "abortMigration" | "computeServices">;
  migrations: Pick<MigrationStore, "load" | "setControl">;
  audit: AuditLog;
  log: Logger;
  /** Reports progress (the proposal message is edited with it). */
  progress: ProgressSink;
  timing?: Partial<ApplyTiming>;
  /** The systemd unit of nova-compute on a host. @defaultValue "nova-compute" */
  serviceFor?: (host: string) => ServiceName;
  /**
   * Taking over from a worker that stopped mid-apply: the hosts it finished. On any other host whose
   * files already hold the planned content, that worker may have renamed them into place and died
   * before restarting nova-compute, so nova-compute is restarted to read them (and the backups it
   * reported, keyed `host\0path`, are restored should nova-compute not come up).
   */
  resume?: { finishedHosts: ReadonlySet<string>; backups: ReadonlyMap<string, string> };
  now?: () => number;
}

export interface HostResult {
  host: string;
  ok: boolean;
  detail: string;
}

export interface ApplyOutcome {
  ok: boolean;
  results: HostResult[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** `.<file>.migbot-tmp-<id>` beside the target: the catalogue only lets migbot write such names. */
export function tempPathFor(path: string): string {
  return `${dirOf(path)}/.${baseOf(path)}.migbot-tmp-${randomBytes(6).toString("hex")}`;
}

/** `<path>.migbot-backup-<UTC timestamp with ms>`. */
export function backupPathFor(path: string, at: number): string {
  const stamp = new Date(at).toISOString().replace(/[-:.]/g, "");
  return `${path}.migbot-backup-${stamp}`;
}

interface FileStat {
  mode: string;
  owner: string;
  group: string;
}

function parseStat(stdout: string): FileStat {
  const [mode = "", owner = "", group = ""] = stdout.trim().split(/\s+/);
  return { mode, owner, group };
}

/** Applies a cpu-model or auto-converge proposal on its hosts, sequentially. */
export async function applyProposal(p: Proposal, deps: ApplyDeps): Promise<ApplyOutcome> {
  const timing = { ...DEFAULT_APPLY_TIMING, ...deps.timing };
  const now = deps.now ?? Date.now;
  const actor = p.decidedBy ?? p.requestedBy;
  const hosts: string[] = [];
  for (const h of [...p.changes.map((c) => c.host), ...p.serviceRestarts])
    if (!hosts.includes(h)) hosts.push(h);
  const results: HostResult[] = [];

  const liveOn = async (names: string[]) =>
    (await deps.nova.listMigrations({ migrationType: "live-migration" })).filter(
      (m) =>
        // Not over yet: nova-compute must not restart under it (src/nova-facts).
        liveMigrationUnfinished(m.status) &&
        (names.includes(m.sourceCompute) || (m.destCompute !== null && names.includes(m.destCompute))),
    );

  if (p.abortFirst) {
    try {
      await abortFirst(p, hosts, liveOn, deps, timing, actor);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      await deps.progress({ kind: "abort-refused", detail });
      return {
        ok: false,
        results: hosts.map((host) => ({ host, ok: false, detail: `not changed: ${detail}` })),
      };
    }
  }

  for (const [i, host] of hosts.entries()) {
    const files = p.changes.filter((c) => c.host === host);
    let result: HostResult;
    try {
      result = await applyHost(host, files, p, deps, timing, actor, liveOn, now);
    } catch (err) {
      const detail =
        err instanceof FixError
          ? err.message
          : `stopped: ${err instanceof Error ? err.message : String(err)}`;
      await deps.audit.write({
        actor,
        action: "host-refused",
        proposalId: p.id,
        host,
        what: "nova.conf change not applied",
        result: "failed",
        detail,
      });
      result = { host, ok: false, detail };
    }
    results.push(result);
    await deps.progress({ kind: "host-done", host, ok: result.ok, detail: result.detail });
    if (!result.ok) {
      for (const rest of hosts.slice(i + 1)) {
        results.push({ host: rest, ok: false, detail: `not attempted: stopped after ${host} failed` });
      }
      break;
    }
  }
  return { ok: results.every((r) => r.ok), results };
}

async function abortFirst(
  p: Proposal,
  hosts: string[],
  liveOn: (names: string[]) => Promise<NovaMigration[]>,
  deps: ApplyDeps,
  timing: ApplyTiming,
  actor: string,
): Promise<void> {
  const target = p.abortFirst!;
  const record = await deps.migrations.load(target.jobId);
  const serverId = record?.view.serverId ?? null;
  const migrationId = record?.view.novaMigrationId ?? null;
  const live = await liveOn(hosts);
  const others = live.filter((m) => m.id !== migrationId);
  if (others.length > 0) {
    throw new FixError(
      "FIX_MIGRATION_RUNNING",
      `${others.length} other live migration(s) run on ${hosts.join(", ")} (Nova migration ${others.map((m) => m.id).join(", ")}); nova-compute must not restart under them. Nothing was changed; approve again once they finish (run /diagnose for a fresh plan).`,
    );
  }
  const mine = live.find((m) => m.id === migrationId);
  if (!mine || serverId === null || migrationId === null) {
    await deps.progress({ kind: "abort-not-needed", vm: target.vm });
    return;
  }
  await deps.progress({ kind: "aborting", vm: target.vm, migrationId });
  await deps.migrations.setControl(target.jobId, { action: "abort", by: actor, at: Date.now() });
  await deps.nova.abortMigration(serverId, migrationId);
  const deadline = Date.now() + timing.abortWaitTimeoutMs;
  for (let n = 0; n < MAX_POLLS; n++) {
    const still = (await liveOn(hosts)).find((m) => m.id === migrationId);
    if (!still) break;
    if (Date.now() > deadline) {
      throw new FixError(
        "FIX_ABORT_TIMEOUT",
        `the migration of ${target.vm} did not stop within ${Math.round(timing.abortWaitTimeoutMs / 1000)} s of the abort (Nova still says ${still.status}). Nothing was changed; check it with /migrate status ${target.vm} and approve a fresh plan once it has stopped.`,
      );
    }
    await sleep(timing.abortPollIntervalMs);
  }
  await deps.audit.write({
    actor,
    action: "migration-aborted",
    proposalId: p.id,
    what: `aborted the live migration of ${target.vm} (Nova migration ${migrationId}) before restarting nova-compute`,
    result: "ok",
  });
  await deps.progress({ kind: "aborted", vm: target.vm });
}

async function applyHost(
  host: string,
  files: HostFileChange[],
  p: Proposal,
  deps: ApplyDeps,
  timing: ApplyTiming,
  actor: string,
  liveOn: (names: string[]) => Promise<NovaMigration[]>,
  now: () => number,
): Promise<HostResult> {
  const run = deps.hosts.run.bind(deps.hosts);
  const service = deps.serviceFor?.(host) ?? "nova-compute";

  const live = await liveOn([host]);
  if (live.length > 0) {
    throw new FixError(
      "FIX_MIGRATION_RUNNING",
      `refused: ${live.length} live migration(s) run on ${host} (Nova migration ${live.map((m) => `${m.id}, ${m.status}`).join("; ")}); nova-compute must not restart under a migration. Nothing was changed here; approve a fresh plan once they finish.`,
    );
  }

  // Every file on the host is read and the fix planned again before any is written, so a host is
  // changed all or nothing, and only with the content that hashes to what was approved.
  const recipe = p.recipes.find((r) => r.host === host);
  if (recipe === undefined) {
    throw new FixError(
      "FIX_PLAN_MISMATCH",
      `refused: the proposal has no plan for ${host}. Nothing was changed; run /diagnose again for a fresh plan.`,
    );
  }
  const current: ConfigFile[] = [];
  for (const input of recipe.inputs) {
    current.push({
      path: input.path,
      text: (await run(host, { kind: "read-file", path: input.path })).stdout,
    });
  }
  const { pending } = replayHostFix(recipe, files, current);
  const unfinished = deps.resume !== undefined && !deps.resume.finishedHosts.has(host);
  if (pending.length === 0 && files.length > 0 && !unfinished) {
    return {
      host,
      ok: true,
      detail:
        "already applied (every file already has the planned content); nothing written, nova-compute not restarted",
    };
  }

  const written: { f: HostFileChange; backup: string }[] = [];
  try {
    for (const { change: f, content } of pending) {
      const before = parseStat((await run(host, { kind: "stat-file", path: f.path })).stdout);
      const backup = backupPathFor(f.path, now());
      await run(host, { kind: "copy-file", from: f.path, to: backup });
      written.push({ f, backup });
      await replaceFile(host, f.path, { content }, deps);
      const after = (await run(host, { kind: "read-file", path: f.path })).stdout;
      const stat = parseStat((await run(host, { kind: "stat-file", path: f.path })).stdout);
      if (sha256Hex(after) !== f.afterSha256) {
        throw new FixError(
          "FIX_VERIFY_FAILED",
          `${f.path} on ${host} does not read back as planned after the write`,
        );
      }
      if (stat.mode !== before.mode || stat.owner !== before.owner || stat.group !== before.group) {
        throw new FixError(
          "FIX_VERIFY_FAILED",
          `${f.path} on ${host} lost its owner or mode (${before.owner}:${before.group} ${before.mode} → ${stat.owner}:${stat.group} ${stat.mode})`,
        );
      }
      await deps.audit.write({
        actor,
        action: "host-change",
        proposalId: p.id,
        host,
        what: `wrote ${f.path} (backup ${backup}; owner ${stat.owner}:${stat.group}, mode ${stat.mode} kept)`,
        diff: f.diff,
        result: "ok",
      });
      await deps.progress({
        kind: "file-written",
        host,
        path: f.path,
        backup,
        owner: stat.owner,
        group: stat.group,
        mode: stat.mode,
      });
    }
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    // The write that failed before its rename left its file as it was (found by the fault suite:
    // a host dropping mid-write got "RESTORE OF nova.conf FAILED" for a file never changed).
    if ((err as { fileUntouched?: boolean }).fileUntouched) written.pop();
    const restored = await restoreAll(host, written, deps, actor, p.id);
    throw new FixError(
      "FIX_WRITE_FAILED",
      `writing failed (${why}); ${restored}. nova-compute was not restarted.`,
    );
  }

  if (pending.length === 0 && written.length === 0) {
    // Taken over: the files were in place already; only the restart is left to do. Should it fail,
    // the backups the stopped worker reported are what a rollback restores.
    for (const f of files) {
      const backup = deps.resume?.backups.get(`${host}\u0000${f.path}`);
      if (backup !== undefined) written.push({ f, backup });
    }
    await deps.audit.write({
      actor,
      action: "host-change",
      proposalId: p.id,
      host,
      what: "nova.conf already had the planned content (written by the worker that stopped); restarting nova-compute so it reads it",
      result: "ok",
    });
  }
  await deps.progress({ kind: "service-restarting", host, service });
  const up = await restartAndWait(host, service, deps, timing);
  await deps.audit.write({
    actor,
    action: "service-restart",
    proposalId: p.id,
    host,
    what: `restarted ${service}`,
    result: up.ok ? "ok" : "failed",
    detail: up.detail,
  });
  if (up.ok) {
    return { host, ok: true, detail: `applied; ${service} is up again (${up.detail})` };
  }

  await deps.progress({ kind: "service-not-up", host, service, detail: up.detail });
  const restored = await restoreAll(host, written, deps, actor, p.id);
  const again = await restartAndWait(host, service, deps, timing);
  await deps.audit.write({
    actor,
    action: "rollback",
    proposalId: p.id,
    host,
    what: `restored the previous config and restarted ${service}`,
    result: again.ok ? "ok" : "failed",
    detail: `${restored}; ${again.detail}`,
  });
  return {
    host,
    ok: false,
    detail: again.ok
      ? `rolled back: ${service} did not come up with the new config (${up.detail}); ${restored}, restarted, and it is up again (${again.detail}). Check the nova-compute log on ${host}.`
      : `ROLLED BACK BUT STILL DOWN: ${service} did not come up with the new config (${up.detail}); ${restored} and restarted it, but it is still not up (${again.detail}). Log in to ${host} and check the service now.`,
  };
}

/**
 * Temp file in the same folder, then an atomic rename. The temp starts as `cp -p` of the target (or
 * of the backup being restored), so it has their owner and mode before the new content, secrets and
 * all, is written into it; a file created by the write itself would be world-readable until fixed.
 */
async function replaceFile(
  host: string,
  path: string,
  source: { content: string } | { copyOf: string },
  deps: ApplyDeps,
): Promise<void> {
  const tmp = tempPathFor(path);
  let renameSent = false;
  try {
    const from = "content" in source ? path : source.copyOf;
    await deps.hosts.run(host, { kind: "copy-file", from, to: tmp });
    if ("content" in source)
      await deps.hosts.run(host, { kind: "write-file", path: tmp, content: source.content });
    renameSent = true;
    await deps.hosts.run(host, { kind: "rename-file", from: tmp, to: path });
  } catch (err) {
    await deps.hosts.run(host, { kind: "remove-temp-file", path: tmp }).catch(() => {});
    // Before the rename the file itself was never touched: nothing of it needs restoring.
    if (!renameSent && err instanceof Error) Object.assign(err, { fileUntouched: true });
    throw err;
  }
}

async function restoreAll(
  host: string,
  written: { f: HostFileChange; backup: string }[],
  deps: ApplyDeps,
  actor: string,
  proposalId: string,
): Promise<string> {
  if (written.length === 0) return "nothing had been written";
  const notes: string[] = [];
  for (const { f, backup } of written) {
    try {
      await replaceFile(host, f.path, { copyOf: backup }, deps);
      const back = (await deps.hosts.run(host, { kind: "read-file", path: f.path })).stdout;
      const ok = sha256Hex(back) === f.beforeSha256;
      notes.push(
        ok
          ? `${f.path} restored from ${backup}`
          : `${f.path} restored from ${backup} but differs from the planned original`,
      );
      await deps.audit.write({
        actor,
        action: "rollback",
        proposalId,
        host,
        what: `restored ${f.path} from ${backup}`,
        result: ok ? "ok" : "failed",
      });
    } catch (err) {
      notes.push(
        `RESTORE OF ${f.path} FAILED (${err instanceof Error ? err.message : String(err)}); the backup is ${backup}`,
      );
    }
  }
  return notes.join("; ");
}

/** Restarts the unit and waits until systemd says active and Nova says up, for a settle period. */
async function restartAndWait(
  host: string,
  service: ServiceName,
  deps: ApplyDeps,
  timing: ApplyTiming,
): Promise<{ ok: boolean; detail: string }> {
  const started = Date.now();
  try {
    await deps.hosts.run(
      host,
      { kind: "systemctl-restart", service },
      { timeoutMs: timing.restartCommandTimeoutMs },
    );
  } catch (err) {
    return {
      ok: false,
      detail: `systemctl restart failed: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  const deadline = started + timing.serviceUpTimeoutMs;
  // Nova shows a service up while its last report is younger than service_down_time (60 s by
  // default), so right after a restart it still shows the old process up: only a report made
  // after the restart (its `updated_at` changed) says the new one runs (seen from real Zed, whose
  // nova-compute reports every 10 s).
  const reportAt = () =>
    deps.nova
      .computeServices()
      .then((list) => list.find((s) => s.host === host)?.updatedAt ?? null)
      .catch(() => null);
  const atRestart = await reportAt();
  let goodSince: number | null = null;
  let failedPolls = 0;
  let last = { unit: "unknown", nova: "unknown" };
  for (let n = 0; n < MAX_POLLS; n++) {
    const unit = await deps.hosts
      .run(host, { kind: "systemctl-is-active", service }, { allowNonZeroExit: true })
      .then((r) => r.stdout.trim() || "unknown")
      .catch(() => "unreachable");
    const row = await deps.nova
      .computeServices()
      .then((list) => list.find((s) => s.host === host))
      .catch(() => undefined);
    const reported = atRestart === null || (row?.updatedAt != null && row.updatedAt !== atRestart);
    const nova =
      row === undefined
        ? "missing"
        : row.state === "up" && !reported
          ? "up (no report since the restart yet)"
          : row.state;
    last = { unit, nova };
    const t = Date.now();
    if (unit === "active" && row?.state === "up" && reported) {
      goodSince ??= t;
      if (t - goodSince >= timing.serviceSettleMs) {
        return {
          ok: true,
          detail: `systemd active, Nova reports up, ${((t - started) / 1000).toFixed(1)} s after the restart`,
        };
      }
    } else {
      goodSince = null;
    }
    failedPolls = unit === "failed" ? failedPolls + 1 : 0;
    if (failedPolls >= SERVICE_FAILED_POLLS) {
      return { ok: false, detail: `systemd reports the unit failed; Nova says ${nova}` };
    }
    if (t > deadline) break;
    await sleep(timing.servicePollIntervalMs);
  }
  return {
    ok: false,
    detail: `not up within ${Math.round(timing.serviceUpTimeoutMs / 1000)} s (systemd: ${last.unit}, Nova: ${last.nova})`,
  };
}
