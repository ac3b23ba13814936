/**
 * `/drain <host> [to <host>,…] [concurrency N]`: parse (pure, with a message that shows the right
 * form), authorize (operators propose; approvers approve the plan with its buttons), refuse a host
 * another drain holds, enqueue the signed planning job and ack.
 */

import { MAX_DRAIN_CONCURRENCY } from "../../src/drain/plan";
import type { DrainStore } from "../../src/drain/store";
import { isTransient } from "../../src/errors";
import { idempotencyKey } from "../../src/queue/jobs";
import { refusal } from "../access";
import { codeSpan } from "../render/format";
import { type Ack, type CommandDeps, queueTrouble, type SlashCommand } from "./migrate";

export type DrainRequest =
  | { kind: "drain"; host: string; destinations: string[] | null; concurrency: number | null }
  | { kind: "help" };

/** Usage lines are mrkdwn: placeholders escaped so Slack does not read `<host>` as a link. */
export const DRAIN_USAGE = [
  "`/drain &lt;host&gt;` — disable a compute host and live-migrate every VM off it (Nova's scheduler picks where)",
  "`/drain &lt;host&gt; to &lt;host&gt;,&lt;host&gt;` — the same, onto the hosts given",
  "`/drain &lt;host&gt; concurrency 3` — how many at once (default 2, never above the host's max_concurrent_live_migrations)",
  "`/drain help` — this help",
].join("\n");

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function fail(problem: string): { ok: false; error: string } {
  return { ok: false, error: `${problem}\n\nUsage:\n${DRAIN_USAGE}` };
}

function badName(name: string, what: string): string | null {
  if (NAME_RE.test(name)) return null;
  return `${codeSpan(name.length > 40 ? `${name.slice(0, 40)}…` : name)} is not a valid ${what} name (letters, digits, '.', '_' and '-', starting with a letter or digit).`;
}

/** Parses the text after `/drain`. */
export function parseDrain(text: string): { ok: true; request: DrainRequest } | { ok: false; error: string } {
  const w = text.trim().split(/\s+/).filter(Boolean);
  if (w.length === 0 || w[0] === "help" || w[0] === "--help") return { ok: true, request: { kind: "help" } };
  const host = w[0]!;
  const hostProblem = badName(host, "host");
  if (hostProblem) return fail(hostProblem);
  let destinations: string[] | null = null;
  let concurrency: number | null = null;
  let i = 1;
  while (i < w.length) {
    const word = w[i]!.toLowerCase();
    if (word === "to") {
      if (destinations !== null) return fail("Give the destinations once, after one `to`.");
      const list: string[] = [];
      i++;
      // Hosts separated by commas, with or without spaces, up to the next keyword or the end.
      while (i < w.length && !["concurrency", "to"].includes(w[i]!.toLowerCase())) {
        list.push(...w[i]!.split(",").filter(Boolean));
        i++;
      }
      if (list.length === 0)
        return fail(
          "Say which hosts to drain to after `to` (comma-separated), or leave `to` out for Nova's scheduler.",
        );
      for (const d of list) {
        const p = badName(d, "host");
        if (p) return fail(p);
        if (d === host)
          return fail(`${codeSpan(d)} is the host being drained; give other hosts after \`to\`.`);
      }
      destinations = [...new Set(list)];
      continue;
    }
    if (word === "concurrency") {
      if (concurrency !== null) return fail("Give `concurrency` once.");
      const n = w[i + 1];
      if (n === undefined || !/^\d{1,2}$/.test(n) || Number(n) < 1 || Number(n) > MAX_DRAIN_CONCURRENCY) {
        return fail(
          `\`concurrency\` takes a whole number from 1 to ${MAX_DRAIN_CONCURRENCY} (users usually pick 1–3: more at once lengthens each VM's final pause).`,
        );
      }
      concurrency = Number(n);
      i += 2;
      continue;
    }
    return fail(
      `I could not read ${codeSpan(w[i]!)}: after the host come \`to <hosts>\` and \`concurrency N\`, both optional.`,
    );
  }
  return { ok: true, request: { kind: "drain", host, destinations, concurrency } };
}

function ephemeral(text: string) {
  return { response_type: "ephemeral" as const, text };
}

/** Handles `/drain …`. Exported for direct tests; registered on the Bolt app by bot/actions/drain.ts. */
export async function handleDrain(
  command: SlashCommand,
  ack: Ack,
  deps: CommandDeps & { drains: DrainStore },
): Promise<void> {
  const parsed = parseDrain(command.text);
  if (!parsed.ok) return ack(ephemeral(parsed.error));
  const req = parsed.request;
  if (req.kind === "help")
    return ack(ephemeral(`migbot drains compute hosts for maintenance.\n${DRAIN_USAGE}`));
  if (!deps.access.channelAllowed(command.channel_id)) {
    return ack(
      ephemeral("migbot does not take commands in this channel. Use one of the channels in MIGBOT_CHANNELS."),
    );
  }
  if (!(await deps.access.has(command.user_id, "operator")))
    return ack(ephemeral(refusal("operator", "drain hosts")));
  const requestedAt = (deps.now ?? Date.now)();
  try {
    const holder = await deps.drains.hostHolder(req.host);
    if (holder !== null) {
      return ack(
        ephemeral(
          `${codeSpan(req.host)} is already being drained (drain ${codeSpan(holder)}); follow its thread, or cancel it there first. No second drain was started.`,
        ),
      );
    }
    const jobId = idempotencyKey(
      "drain-plan",
      command.trigger_id,
      `${command.user_id}:${command.channel_id}:${command.text.trim()}:${Math.floor(requestedAt / 60_000)}`,
    );
    await deps.enqueue.add("actions", jobId, {
      type: "drain-plan",
      host: req.host,
      destinations: req.destinations,
      concurrency: req.concurrency,
      channel: command.channel_id,
      user: command.user_id,
      requestedAt,
      ...(command.response_url !== undefined && { responseUrl: command.response_url }),
    });
  } catch (err) {
    if (!isTransient(err)) throw err;
    deps.log.warn("command not queued: Redis unavailable", { command: command.command, err });
    return ack(ephemeral(queueTrouble(err, `/drain ${req.host}`)));
  }
  const to = req.destinations
    ? `to ${req.destinations.map(codeSpan).join(", ")}`
    : "wherever Nova's scheduler picks";
  return ack(
    ephemeral(
      `Planning the drain of ${codeSpan(req.host)} ${to}: the plan (every VM, its checks, where it goes) follows in this channel for an approver. Nothing changes before it is approved.`,
    ),
  );
}
