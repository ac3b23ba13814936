/**
 * `/migrate` and `/diagnose`: parse, authorize, enqueue, ack. Nothing here waits on Nova or SSH:
 * the worker answers later, in the channel or privately through response_url.
 */
import type { Logger } from "../../src/log";
import { type ActionJob, type Enqueuer, idempotencyKey, type MigrateJob } from "../../src/queue/jobs";
import { type AccessControl, refusal } from "../access";
import { DIAGNOSE_USAGE, MIGRATE_USAGE, parseDiagnose, parseMigrate } from "./parse";

export interface SlashCommand {
  command: string;
  text: string;
  user_id: string;
  channel_id: string;
  response_url?: string;
  trigger_id?: string;
}

export interface EphemeralAck {
  response_type: "ephemeral";
  text: string;
}

export type Ack = (response?: EphemeralAck) => Promise<void>;

/** Where a running migration was asked for: abort and force-complete act only there. */
export type MigrationChannelOf = (jobId: string) => Promise<string | null>;

export interface CommandDeps {
  access: AccessControl;
  enqueue: Enqueuer;
  /** The channel of a migration's thread, by job id (null when unknown). */
  channelOf: MigrationChannelOf;
  log: Logger;
  now?: () => number;
}

function ephemeral(text: string): EphemeralAck {
  return { response_type: "ephemeral", text };
}

/** Handles `/migrate …`. Exported for direct tests; registered on the Bolt app in bot/app.ts. */
export async function handleMigrate(command: SlashCommand, ack: Ack, deps: CommandDeps): Promise<void> {
  const parsed = parseMigrate(command.text);
  if (!parsed.ok) return ack(ephemeral(parsed.error));
  const req = parsed.request;
  if (req.kind === "help") return ack(ephemeral(`migbot follows live migrations for you.\n${MIGRATE_USAGE}`));
  if (!deps.access.channelAllowed(command.channel_id)) {
    return ack(
      ephemeral("migbot does not take commands in this channel. Use one of the channels in MIGBOT_CHANNELS."),
    );
  }
  const role = req.kind === "force-complete" ? "approver" : "operator";
  const what =
    req.kind === "migrate"
      ? "start live migrations"
      : req.kind === "force-complete"
        ? "force-complete a migration"
        : req.kind === "abort"
          ? "abort a migration"
          : req.kind === "audit"
            ? "read the audit log"
            : "ask for migration status";
  if (!(await deps.access.has(command.user_id, role))) return ack(ephemeral(refusal(role, what)));

  const origin = {
    channel: command.channel_id,
    user: command.user_id,
    requestedAt: (deps.now ?? Date.now)(),
    ...(command.response_url !== undefined && { responseUrl: command.response_url }),
  };
  const fallback = `${command.user_id}:${command.channel_id}:${command.text.trim()}:${Math.floor(origin.requestedAt / 60_000)}`;

  if (req.kind === "migrate") {
    const jobId = idempotencyKey("migrate", command.trigger_id, fallback);
    const holder = await deps.enqueue.vmHolder(req.vm);
    if (holder !== null && holder !== jobId) {
      return ack(
        ephemeral(
          `${req.vm} is already being migrated; follow that thread, or use \`/migrate status ${req.vm}\`. No second migration was started.`,
        ),
      );
    }
    const payload: MigrateJob = { type: "migrate", vm: req.vm, destination: req.destination, ...origin };
    const result = await deps.enqueue.add("migrations", jobId, payload);
    deps.log.info("migration requested", { jobId, vm: req.vm, destination: req.destination, result });
    const to = req.destination ? `to ${req.destination}` : "to a host Nova's scheduler picks";
    return ack(
      ephemeral(
        `On it: live-migrating ${req.vm} ${to}. I'll post in this channel and follow it in the thread.`,
      ),
    );
  }

  const jobId = idempotencyKey(req.kind, command.trigger_id, fallback);
  let payload: ActionJob;
  if (req.kind === "status") payload = { type: "status", vm: req.vm, ...origin };
  else if (req.kind === "audit") payload = { type: "audit", count: req.count, ...origin };
  else {
    // Bound now to the migration running at this moment, in this channel: the worker acts on that
    // one only, not on whatever migrates the VM by the time the job runs.
    const target = await deps.enqueue.vmHolder(req.vm);
    const where = target === null ? null : await deps.channelOf(target);
    if (target === null || where === null) {
      return ack(
        ephemeral(
          `No live migration of ${req.vm} is running, so there is nothing to ${req.kind === "abort" ? "abort" : "force-complete"}.`,
        ),
      );
    }
    if (where !== command.channel_id) {
      return ack(
        ephemeral(
          `The migration of ${req.vm} is followed in <#${where}>; ${req.kind === "abort" ? "abort" : "force-complete"} it there, where its thread is. Nothing was sent to Nova.`,
        ),
      );
    }
    payload = { type: req.kind, vm: req.vm, jobId: target, ...origin };
  }
  await deps.enqueue.add("actions", jobId, payload);
  const verb =
    req.kind === "status"
      ? "Looking up"
      : req.kind === "audit"
        ? "Reading the audit log"
        : req.kind === "abort"
          ? `Asking Nova to abort the migration of ${req.vm}`
          : `Asking Nova to force-complete the migration of ${req.vm}`;
  return ack(ephemeral(`${verb}…`));
}

/** Handles `/diagnose …`. */
export async function handleDiagnose(command: SlashCommand, ack: Ack, deps: CommandDeps): Promise<void> {
  const parsed = parseDiagnose(command.text);
  if (!parsed.ok) return ack(ephemeral(parsed.error));
  const req = parsed.request;
  if (req.kind === "help")
    return ack(ephemeral(`migbot checks live-migration readiness.\n${DIAGNOSE_USAGE}`));
  if (!deps.access.channelAllowed(command.channel_id)) {
    return ack(
      ephemeral("migbot does not take commands in this channel. Use one of the channels in MIGBOT_CHANNELS."),
    );
  }
  if (!(await deps.access.has(command.user_id, "operator")))
    return ack(ephemeral(refusal("operator", "run diagnoses")));
  const requestedAt = (deps.now ?? Date.now)();
  const jobId = idempotencyKey(
    "diagnose",
    command.trigger_id,
    `${command.user_id}:${command.channel_id}:${command.text.trim()}:${Math.floor(requestedAt / 60_000)}`,
  );
  await deps.enqueue.add("actions", jobId, {
    type: "diagnose",
    target: req.target,
    destination: req.destination,
    channel: command.channel_id,
    user: command.user_id,
    requestedAt,
    ...(command.response_url !== undefined && { responseUrl: command.response_url }),
  });
  return ack(
    ephemeral(
      `Diagnosing ${req.target}${req.destination ? ` → ${req.destination}` : ""}; results follow in a thread.`,
    ),
  );
}
