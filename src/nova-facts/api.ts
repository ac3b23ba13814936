import { NovaFactsError } from "./errors";
import { NEWEST_KNOWN_MAJOR, type NovaReleaseRef, novaRelease, OLDEST_KNOWN_MAJOR } from "./releases";

/**
 * Nova API facts migbot relies on: the microversion range of each release, the microversions
 * that changed something migbot sends or reads, and which live migrations can be aborted or
 * force-completed.
 */

/** The lowest microversion of every release (`_MIN_API_VERSION`, nova/api/openstack/api_version_request.py). */
export const MIN_MICROVERSION = "2.1";

// `_MAX_API_VERSION` in nova/api/openstack/api_version_request.py at each x.0.0 tag; the same at
// the newest point release of every series (13.1.4 … 33.0.2): no series raised it in a backport.
const MAX_MICROVERSION_BY_MAJOR: Readonly<Record<number, string>> = {
  13: "2.25",
  14: "2.38",
  15: "2.42",
  16: "2.53",
  17: "2.60",
  18: "2.65",
  19: "2.72",
  20: "2.79",
  21: "2.87",
  22: "2.87",
  23: "2.88",
  24: "2.90",
  25: "2.90",
  26: "2.93",
  27: "2.95",
  28: "2.95",
  29: "2.96",
  30: "2.96",
  31: "2.100",
  32: "2.100",
  33: "2.103",
};

/** The highest microversion a release's API serves. */
export function maxMicroversion(release: NovaReleaseRef): string {
  return MAX_MICROVERSION_BY_MAJOR[novaRelease(release).major]!;
}

function parse(mv: string): [number, number] {
  const m = /^([1-9]\d*)\.(0|[1-9]\d*)$/.exec(mv.trim());
  if (!m) {
    throw new NovaFactsError("NOVA_FACTS_INVALID_INPUT", `'${mv}' is not a microversion like 2.65.`);
  }
  return [Number(m[1]), Number(m[2])];
}

/** Negative, zero or positive as microversion `a` is lower than, equal to or higher than `b`. */
export function compareMicroversion(a: string, b: string): number {
  const [am, an] = parse(a);
  const [bm, bn] = parse(b);
  return am !== bm ? am - bm : an - bn;
}

/**
 * Microversions at which Nova changed something migbot sends or reads (descriptions from
 * nova/api/openstack/rest_api_version_history.rst and the api_version_request.py docstring).
 */
export const MICROVERSIONS = {
  /** `POST /servers/{id}/migrations/{mid}/action {"force_complete": null}`. */
  FORCE_COMPLETE: "2.22",
  /** `GET /servers/{id}/migrations[/{mid}]` (in-progress live migrations); os-migrations gains migration_type and links. */
  SERVER_MIGRATIONS: "2.23",
  /** `DELETE /servers/{id}/migrations/{mid}` aborts a `running` live migration. */
  ABORT_MIGRATION: "2.24",
  /** os-migrateLive: `block_migration` may be "auto"; `disk_over_commit` removed. Mitaka's maximum. */
  BLOCK_MIGRATION_AUTO: "2.25",
  /**
   * os-migrateLive `force`: before 2.30 a given host bypasses the scheduler; from 2.30 the scheduler
   * checks it unless `force: true` (compute/api.py `if force is False and host_name`).
   */
  LIVE_MIGRATE_FORCE: "2.30",
  /** Live-migration pre-checks run after the API answered 202 (failures show in instance actions). */
  ASYNC_LIVE_MIGRATION_PRECHECK: "2.34",
  /**
   * Services are updated by id: `PUT /os-services/{uuid}` with `{"status": "disabled",
   * "disabled_reason": …}` (or `"enabled"`); before it `PUT /os-services/disable-log-reason` (and
   * `/enable`) with `host` and `binary` in the body (nova 26.2.2
   * nova/api/openstack/compute/services.py `update`, `UUID_FOR_ID_MIN_VERSION = '2.53'`).
   */
  SERVICE_UPDATE_BY_ID: "2.53",
  /** Migrations gain `uuid`; os-migrations pages (limit/marker) and takes changes-since. */
  MIGRATION_UUID: "2.59",
  /** Abort also `queued` and `preparing` live migrations. */
  ABORT_QUEUED: "2.65",
  /** os-migrateLive `force` removed. */
  LIVE_MIGRATE_NO_FORCE: "2.68",
  /** Migrations gain `user_id` / `project_id`; os-migrations filters by them. */
  MIGRATION_USER_PROJECT: "2.80",
  /** os-hypervisors detail/show drop vcpus, memory_mb, cpu_info … ; statistics and uptime removed. */
  HYPERVISOR_NO_STATS: "2.88",
} as const;

/** The first release whose API serves a microversion (from the maxima above). */
export function releaseIntroducing(microversion: string): number {
  for (let major = OLDEST_KNOWN_MAJOR; major <= NEWEST_KNOWN_MAJOR; major++) {
    if (compareMicroversion(MAX_MICROVERSION_BY_MAJOR[major]!, microversion) >= 0) return major;
  }
  throw new NovaFactsError(
    "NOVA_FACTS_INVALID_INPUT",
    `microversion ${microversion} is above ${MAX_MICROVERSION_BY_MAJOR[NEWEST_KNOWN_MAJOR]}, the highest of the releases migbot knows.`,
  );
}

/**
 * Live-migration statuses Nova counts as in progress: what `GET /servers/{id}/migrations` lists
 * and `GET …/migrations/{mid}` shows (else 404), and which os-migrations entries get links —
 * `migration_get_in_progress_by_instance` (nova/db) and `live_migration_in_progress`
 * (nova/api/openstack/compute/migrations.py, server_migrations.py), the same at every tag
 * 13.0.0–33.0.0. `running (post-copy)` is not among them.
 */
export const IN_PROGRESS_LIVE_MIGRATION_STATUSES = [
  "queued",
  "preparing",
  "running",
  "post-migrating",
] as const;

/**
 * Statuses a live migration's record takes: `accepted` (API/conductor), `queued`, `preparing`,
 * `running` (compute manager), `running (post-copy)` (libvirt driver, 14.0.0+), `post-migrating`,
 * `completed`, and on failure `failed` / `error`, or `cancelled` after an abort.
 */
export const LIVE_MIGRATION_STATUSES = [
  "accepted",
  "queued",
  "preparing",
  "running",
  "running (post-copy)",
  "post-migrating",
  "completed",
  "failed",
  "error",
  "cancelled",
] as const;

/**
 * What `block_migration: "auto"` (2.25+) becomes for a VM on local disks: the source's check sets
 * `block_migration = not is_on_shared_storage()` (nova/virt/libvirt/driver.py
 * `check_can_live_migrate_source`, the same at 13.0.0 and 26.2.2), and shared block storage is a
 * volume-backed VM with no local disk (`_is_shared_block_storage`) or a shared image backend (rbd).
 * So with the default local image backend a VM booted from an image is block-migrated, one booted
 * from a volume live-migrated (unless its flavor adds an ephemeral or swap disk).
 */
export function blockMigrationAutoIsBlock(bootedFromImage: boolean): boolean {
  return bootedFromImage;
}

/** Statuses that end a live migration's record ({@link LIVE_MIGRATION_STATUSES}); any other means it is not over. */
export const FINISHED_LIVE_MIGRATION_STATUSES = ["completed", "failed", "error", "cancelled"] as const;

/**
 * A live migration that is not over yet, whatever Nova's API lists as "in progress": `accepted`
 * (the conductor has it) and `running (post-copy)` are not in {@link IN_PROGRESS_LIVE_MIGRATION_STATUSES}
 * but still touch both hosts.
 */
export function liveMigrationUnfinished(status: string): boolean {
  return !(FINISHED_LIVE_MIGRATION_STATUSES as readonly string[]).includes(status.toLowerCase());
}

export interface AbortRule {
  /** Statuses the API accepts for `DELETE /servers/{id}/migrations/{mid}`; empty below 2.24. */
  statuses: string[];
  /**
   * Rocky–Train: aborting a `queued`/`preparing` migration also needs the instance's compute
   * service at version 34 or later (MIN_COMPUTE_ABORT_QUEUED_LIVE_MIGRATION), else 409 Conflict.
   */
  queuedNeedsComputeServiceVersion: number | null;
}

/**
 * Which live migrations can be aborted (compute/api.py `live_migrate_abort`): below 2.24 the call
 * does not exist; `running` from 2.24; `queued` and `preparing` too when the request asks for 2.65
 * or later (Rocky 18.0.0+ API). A status outside the list answers 400 (InvalidMigrationState); the
 * instance must be in task_state `migrating` and not locked, else 409.
 */
export function abortRule(release: NovaReleaseRef, requestMicroversion: string): AbortRule {
  const r = novaRelease(release);
  const served = maxMicroversion(r);
  if (compareMicroversion(requestMicroversion, served) > 0) {
    throw new NovaFactsError(
      "NOVA_FACTS_INVALID_INPUT",
      `microversion ${requestMicroversion} is above ${served}, the highest this release serves (it answers 406).`,
    );
  }
  if (compareMicroversion(requestMicroversion, MICROVERSIONS.ABORT_MIGRATION) < 0) {
    return { statuses: [], queuedNeedsComputeServiceVersion: null };
  }
  if (compareMicroversion(requestMicroversion, MICROVERSIONS.ABORT_QUEUED) < 0) {
    return { statuses: ["running"], queuedNeedsComputeServiceVersion: null };
  }
  // MIN_COMPUTE_ABORT_QUEUED_LIVE_MIGRATION = 34 in 18.0.0–20.x nova/compute/api.py; the check
  // is gone from 21.0.0.
  return {
    statuses: ["running", "queued", "preparing"],
    queuedNeedsComputeServiceVersion: r.major <= 20 ? 34 : null,
  };
}

/** {@link abortRule}'s statuses: what a request at this microversion may abort. */
export function abortableStatuses(release: NovaReleaseRef, requestMicroversion: string): string[] {
  return abortRule(release, requestMicroversion).statuses;
}

/**
 * Force-complete (2.22+, compute/api.py `live_migrate_force_complete`, unchanged 13.0.0–33.0.0):
 * only a `running` migration (else 400), the instance `active` in task_state `migrating` and not
 * locked (else 409). A post-copy migration (`running (post-copy)`) cannot be force-completed.
 */
export const FORCE_COMPLETE_STATUSES = ["running"] as const;

/**
 * Server statuses Nova live-migrates: `@check_instance_state(vm_state=[vm_states.ACTIVE,
 * vm_states.PAUSED])` on `API.live_migrate` in nova/compute/api.py, the same at 13.0.0, 26.2.2 and
 * 33.0.0 (the decorator's default `task_state=[None]` also requires no task in progress). The API
 * shows those vm_states as the server statuses ACTIVE and PAUSED.
 */
export const LIVE_MIGRATABLE_SERVER_STATUSES = ["ACTIVE", "PAUSED"] as const;

/** How `GET /os-migrations` treats the query filters migbot and the stock client send. */
export interface OsMigrationsFilters {
  /**
   * Whether `instance_uuid` narrows the list. Mitaka's `migration_get_all_by_filters` (nova 13.0.0
   * and 13.1.4 nova/db/sqlalchemy/api.py) reads only `status`, `host` (source or destination),
   * `source_compute` (when no `host`), `migration_type` and `hidden`; the API passes `req.GET` to it
   * unchecked (nova/api/openstack/compute/migrations.py `index`), so `instance_uuid` is silently
   * ignored and every migration of the cloud is listed. Nova commit 62bcfc595d ("Add ability to
   * filter migrations by instance uuid") added it in 14.0.0; it is there at every later tag.
   */
  instanceUuid: boolean;
  /**
   * How `status` is matched. Mitaka wraps it in a list only when `isinstance(status, str)`; webob
   * hands the API a Python 2 `unicode`, so SQLAlchemy 1.0's `in_()` iterates it and matches the
   * status against each of its characters — no real status matches (Launchpad bug 1581382, fixed
   * by nova commit 11babbbb93 "Fix migration query with unicode status" in 14.0.0, with
   * `six.string_types`). From 14.0.0 the status matches exactly.
   */
  status: "exact" | "per-character";
}

/** Which `GET /os-migrations` filters a release's controller honours (see {@link OsMigrationsFilters}). */
export function osMigrationsFilters(release: NovaReleaseRef): OsMigrationsFilters {
  const mitaka = novaRelease(release).major <= 13;
  return { instanceUuid: !mitaka, status: mitaka ? "per-character" : "exact" };
}
