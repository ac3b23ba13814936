/**
 * `/migrate` and `/diagnose`: parse, authorize, enqueue, ack. Nothing here waits on Nova or SSH:
 * the worker answers later, in the channel or privately through response_url.
 */
import { CodedError, isTransient } from "../../src/errors";
import type { Logger } from "../../src/log";
import {
  type ActionJob,
  type Enqueuer,
  idempotencyKey,
  type MigrateJob,
  type RequestOrigin,
} from "../../src/queue/jobs";
import { type AccessControl, refusal } from "../access";
import { DIAGNOSE_USAGE, MIGRATE_USAGE, type MigrateRequest, parseDiagnose, parseMigrate } from "./parse";

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

/**
 * Slack shows the user an error when a command is not acknowledged within 3 s; the command acks
 * after its job is queued, so Redis gets this long to take it (the rest is parsing and the HTTP).
 */
export const ENQUEUE_DEADLINE_MS = 2_000;

/** Redis did not take a command's job in time: its sender is told whether anything was queued. */
export class QueueNoAnswerError extends CodedError<"QUEUE_NO_ANSWER"> {
  constructor(readonly addStarted: boolean) {
    super("QUEUE_NO_ANSWER", `Redis did not answer within ${ENQUEUE_DEADLINE_MS} ms`, { retryable: true });
  }
}

/**
 * The Redis steps of one command, against one deadline. A step starts only while time is left, so
 * a job is never added after the sender was told nothing was queued; `addStarted` records whether
 * the add itself was under way when time ran out (then nobody can say whether it landed).
 */
class QueueSteps {
  addStarted = false;

  /** Wall-clock time: the deadline is Slack's, whatever clock the handler is given. */
  private readonly deadline = Date.now() + ENQUEUE_DEADLINE_MS;

  async run<T>(step: () => Promise<T>, opts: { adds?: boolean } = {}): Promise<T> {
    const left = this.deadline - Date.now();
    if (left <= 0) throw new QueueNoAnswerError(this.addStarted);
    if (opts.adds) this.addStarted = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new QueueNoAnswerError(this.addStarted)), left);
    });
    try {
      return await Promise.race([step(), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** What the sender reads when Redis would not take the job: what happened, and what to do next. */
export function queueTrouble(err: unknown, statusHint: string): string {
  if (err instanceof QueueNoAnswerError) {
    return err.addStarted
      ? `migbot's queue (Redis) did not answer within ${ENQUEUE_DEADLINE_MS / 1000} s, so I cannot tell whether this request was queued. Check \`${statusHint}\` in a minute before asking again (QUEUE_NO_ANSWER).`
      : `migbot's queue (Redis) did not answer within ${ENQUEUE_DEADLINE_MS / 1000} s, so nothing was started. Try again in a minute (QUEUE_NO_ANSWER).`;
  }
  return "migbot cannot reach its queue (Redis) right now, so nothing was started. Try again in a minute; if it keeps happening, tell whoever runs migbot (QUEUE_UNAVAILABLE).";
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

  const steps = new QueueSteps();
  try {
    return await queueCommand(req, command, origin, fallback, steps, ack, deps);
  } catch (err) {
    if (!isTransient(err)) throw err;
    deps.log.warn("command not queued: Redis unavailable", { command: command.command, kind: req.kind, err });
    return ack(ephemeral(queueTrouble(err, `/migrate status${"vm" in req && req.vm ? ` ${req.vm}` : ""}`)));
  }
}

/** The Redis part of `/migrate`: look up, enqueue, answer; every Redis step within `steps`' deadline. */
async function queueCommand(
  req: Exclude<MigrateRequest, { kind: "help" }>,
  command: SlashCommand,
  origin: RequestOrigin,
  fallback: string,
  steps: QueueSteps,
  ack: Ack,
  deps: CommandDeps,
): Promise<void> {
  if (req.kind === "migrate") {
    const jobId = idempotencyKey("migrate", command.trigger_id, fallback);
    const holder = await steps.run(() => deps.enqueue.vmHolder(req.vm));
    if (holder !== null && holder !== jobId) {
      return ack(
        ephemeral(
          `${req.vm} is already being migrated; follow that thread, or use \`/migrate status ${req.vm}\`. No second migration was started.`,
        ),
      );
    }
    const payload: MigrateJob = { type: "migrate", vm: req.vm, destination: req.destination, ...origin };
    const result = await steps.run(() => deps.enqueue.add("migrations", jobId, payload), { adds: true });
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
    const target = await steps.run(() => deps.enqueue.vmHolder(req.vm));
    const where = target === null ? null : await steps.run(() => deps.channelOf(target));
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
  await steps.run(() => deps.enqueue.add("actions", jobId, payload), { adds: true });
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
  const steps = new QueueSteps();
  try {
    await steps.run(
      () =>
        deps.enqueue.add("actions", jobId, {
          type: "diagnose",
          target: req.target,
          destination: req.destination,
          channel: command.channel_id,
          user: command.user_id,
          requestedAt,
          ...(command.response_url !== undefined && { responseUrl: command.response_url }),
        }),
      { adds: true },
    );
  } catch (err) {
    if (!isTransient(err)) throw err;
    deps.log.warn("command not queued: Redis unavailable", { command: command.command, err });
    return ack(ephemeral(queueTrouble(err, "/migrate status")));
  }
  return ack(
    ephemeral(
      `Diagnosing ${req.target}${req.destination ? ` → ${req.destination}` : ""}; results follow in a thread.`,
    ),
  );
}
