/**
 * A migration request before anything is posted: checked against Nova (an unknown VM or host, the
 * VM already there, a VM that is not ACTIVE give a typed rejection, worded by the answer renderer),
 * the record it starts with, and, for a retry, its link back to the earlier attempt.
 */

import { LIVE_MIGRATABLE_SERVER_STATUSES } from "../nova-facts";
import type { NovaPort, NovaServer } from "../openstack/port";
import type { MigrateJob } from "../queue/jobs";
import type { MessageRef } from "./presenter";
import type { MigrationRecord, MigrationStore } from "./store";
import { type MigrationView, type RetryNote, vmLabel } from "./view";

/** Why a request was not started; each names what the person can do next (see bot/render/answers.ts). */
export type MigrationRejection =
  /** Nova knows no VM by that name or id. */
  | { kind: "unknown-vm"; vm: string }
  /** The destination is not one of Nova's nova-compute hosts; `known` lists them. */
  | { kind: "unknown-host"; host: string; known: string[] }
  /** The VM already runs on the destination asked for. */
  | { kind: "already-there"; vm: string; host: string }
  /** Nova live-migrates only ACTIVE or PAUSED VMs with no task in progress. */
  | { kind: "not-active"; vm: string; status: string; taskState: string | null };

/** The server a request is about, or why it cannot be started. */
export type RequestCheck = { ok: true; server: NovaServer } | { ok: false; rejection: MigrationRejection };

/**
 * Checks a request against Nova: the VM exists, is ACTIVE or PAUSED with no task in progress (as
 * Nova requires), and the destination is a known other host.
 */
export async function checkRequest(job: MigrateJob, nova: NovaPort): Promise<RequestCheck> {
  const server = await nova.findServer(job.vm);
  if (server === null) return { ok: false, rejection: { kind: "unknown-vm", vm: job.vm } };
  const services = await nova.computeServices();
  const known = services.filter((s) => s.binary === "nova-compute").map((s) => s.host);
  if (job.destination !== null && !known.includes(job.destination)) {
    return { ok: false, rejection: { kind: "unknown-host", host: job.destination, known } };
  }
  if (job.destination !== null && server.host === job.destination) {
    return { ok: false, rejection: { kind: "already-there", vm: job.vm, host: job.destination } };
  }
  if (
    !(LIVE_MIGRATABLE_SERVER_STATUSES as readonly string[]).includes(server.status) ||
    server.taskState !== null
  ) {
    return {
      ok: false,
      rejection: { kind: "not-active", vm: job.vm, status: server.status, taskState: server.taskState },
    };
  }
  return { ok: true, server };
}

/** The record of a new request: nothing posted, nothing sent to Nova, the server as Nova has it. */
export function newRecord(jobId: string, job: MigrateJob, server: NovaServer, now: number): MigrationRecord {
  const view: MigrationView = {
    jobId,
    vm: job.vm,
    serverName: server.name,
    serverId: server.id,
    instanceName: server.instanceName,
    requestedBy: job.user,
    channel: job.channel,
    source: server.host,
    requestedDestination: job.destination,
    destination: job.destination,
    flavor: { ramMb: server.flavor.ramMb ?? null, vcpus: server.flavor.vcpus ?? null },
    ...(server.bootedFromImage !== undefined && { bootedFromImage: server.bootedFromImage }),
    status: "starting",
    phase: "pre-migration",
    startedAt: now,
    endedAt: null,
    novaMigrationId: null,
    novaStatus: null,
    reservation: null,
    precopy: null,
    downtimeMs: null,
    failure: null,
    stuck: null,
    control: null,
  };
  return {
    view,
    trigger: { state: "none", at: null },
    posts: {},
    postedPhases: [],
    notConvergingPosted: false,
    failurePosted: false,
  };
}

/** A retry's link back: what the new root says, and the earlier thread that learns of the retry. */
export interface RetryLink {
  note: RetryNote;
  /**
   * The earlier job and its thread (`rootTs`: its root message's ref, the name records in Redis
   * already use); null when its record is gone (expired) or it never posted.
   */
  earlier: { jobId: string; channel: string; rootTs: MessageRef } | null;
  noticePosted: boolean;
}

/** The retry link for a job that retries an earlier one; null for a first attempt. */
export async function retryLinkOf(job: MigrateJob, store: MigrationStore): Promise<RetryLink | null> {
  if (job.retryOf === undefined && job.retryContext === undefined) return null;
  const earlier = job.retryOf === undefined ? null : await store.load(job.retryOf);
  return {
    note: {
      fix: job.retryContext?.fix ?? null,
      approvedBy: job.retryContext?.approvedBy ?? null,
      earlier:
        earlier === null
          ? null
          : {
              vm: vmLabel(earlier.view),
              startedAt: earlier.view.startedAt,
              source: earlier.view.source,
              destination: earlier.view.destination,
            },
    },
    earlier:
      earlier?.posts.root !== undefined && job.retryOf !== undefined
        ? { jobId: job.retryOf, channel: earlier.view.channel, rootTs: earlier.posts.root }
        : null,
    noticePosted: false,
  };
}
