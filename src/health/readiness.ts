/**
 * Readiness: can this process do its job right now? Each check names one thing it depends on
 * (Redis, Slack, Keystone, the compute hosts) and says why it is not there, in words that never hold
 * a secret. Checks that cost something on the other side are cached for a few seconds, and every
 * check is bounded in time, so an orchestrator probing /readyz every few seconds stays cheap and
 * gets an answer even when a dependency hangs.
 */
import type { Redis } from "ioredis";
import type { HostsPort } from "../hosts/port";
import { redactText } from "../log";
import { SlackApiError, SlackRateLimitedError, toSlackError } from "../notify/slack-api";

/** Redis answers PING in well under a millisecond on a LAN; a second means it is not usable. */
export const REDIS_PING_TIMEOUT_MS = 1_000;
/** auth.test is one Slack call (tier 4); a working token stays working, so once a minute is enough. */
export const SLACK_AUTH_CACHE_MS = 60_000;
export const SLACK_AUTH_TIMEOUT_MS = 3_000;
/** Keystone's token request (only sent when the cached token is near expiry). */
export const KEYSTONE_CHECK_TIMEOUT_MS = 5_000;
/** One cheap catalogue command per host, at most this long (connection included). */
export const HOST_CHECK_TIMEOUT_MS = 3_000;
/** The hosts' answer is reused this long, and a host that ran any command this recently counts as up. */
export const HOSTS_CHECK_CACHE_MS = 5_000;
/** Hosts probed at once: a large inventory is checked in waves rather than all at the same instant. */
export const HOSTS_CHECK_CONCURRENCY = 16;
/** A failed check is asked again at most this often, so a down dependency is not hammered by probes. */
export const FAILED_CHECK_CACHE_MS = 5_000;
/** Longest reason kept in a report. */
const REASON_MAX_CHARS = 300;
/** Hosts named in a failing hosts check, at most (the count says how many more). */
const FAILING_HOSTS_NAMED = 10;

/** One check: resolves with a short detail when fine, throws an Error saying why not. */
export type ReadinessCheck = () => Promise<string>;

export interface CheckReport {
  ok: boolean;
  /** What was seen (when ok) or why it failed (when not): never a secret. */
  detail: string;
  ms: number;
}

export interface ReadinessReport {
  status: "ready" | "not ready";
  /** Names of the failing checks, in order. */
  failing: string[];
  checks: Record<string, CheckReport>;
}

/** A check's promise, bounded: past `ms` it fails saying what did not answer. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A check that reuses its last answer: a success for `okMs`, a failure for `failMs`; callers that
 * arrive while it runs share the one run.
 */
export function cachedCheck(
  check: ReadinessCheck,
  okMs: number,
  failMs = FAILED_CHECK_CACHE_MS,
  now = Date.now,
): ReadinessCheck {
  let last: { at: number; ok: boolean; value: string | Error } | null = null;
  let running: Promise<string> | null = null;
  return async () => {
    if (last !== null && now() - last.at < (last.ok ? okMs : failMs)) {
      if (last.ok) return last.value as string;
      throw last.value;
    }
    running ??= check()
      .then(
        (value) => {
          last = { at: now(), ok: true, value };
          return value;
        },
        (err: unknown) => {
          last = { at: now(), ok: false, value: err instanceof Error ? err : new Error(String(err)) };
          throw last.value;
        },
      )
      .finally(() => {
        running = null;
      });
    return running;
  };
}

/** Redis answers PING. */
export function redisCheck(
  redis: Pick<Redis, "status" | "ping">,
  timeoutMs = REDIS_PING_TIMEOUT_MS,
): ReadinessCheck {
  return async () => {
    // ioredis queues commands while it reconnects; say so at once instead of waiting for the timeout.
    if (redis.status !== "ready") throw new Error(`Redis is not connected (${redis.status})`);
    const started = Date.now();
    const answer = await withTimeout(redis.ping(), timeoutMs, "Redis");
    if (answer !== "PONG") throw new Error(`Redis answered PING with '${String(answer).slice(0, 40)}'`);
    return `PING answered in ${Date.now() - started} ms`;
  };
}

/** Slack accepts the bot token (`auth.test`), cached. */
export function slackAuthCheck(
  authTest: () => Promise<{ user_id?: string; team_id?: string }>,
  opts: { cacheMs?: number; timeoutMs?: number } = {},
): ReadinessCheck {
  return cachedCheck(async () => {
    try {
      const res = await withTimeout(authTest(), opts.timeoutMs ?? SLACK_AUTH_TIMEOUT_MS, "Slack (auth.test)");
      return `auth.test accepted the bot token (bot user ${res.user_id ?? "?"}, team ${res.team_id ?? "?"})`;
    } catch (err) {
      const e = toSlackError(err);
      if (e instanceof SlackApiError) throw new Error(`Slack refused auth.test: ${e.slackError}`);
      if (e instanceof SlackRateLimitedError)
        throw new Error(`Slack rate limited auth.test (retry after ${e.retryAfterMs} ms)`);
      throw e;
    }
  }, opts.cacheMs ?? SLACK_AUTH_CACHE_MS);
}

/** Keystone gives (or has given, and it is still valid) a token for Nova. */
export function keystoneCheck(
  auth: { token(): Promise<{ expiresAtMs: number }> },
  timeoutMs = KEYSTONE_CHECK_TIMEOUT_MS,
): ReadinessCheck {
  // KeystoneAuth caches its token until shortly before expiry, so this asks Keystone only then.
  return cachedCheck(async () => {
    const token = await withTimeout(auth.token(), timeoutMs, "Keystone");
    return `token valid until ${new Date(token.expiresAtMs).toISOString()}`;
  }, 0);
}

export interface HostsCheckOptions {
  /** The inventory's host names. */
  names: readonly string[];
  /** The nova-compute unit on each host (the probe asks systemd about it). */
  serviceFor(host: string): "nova-compute" | "openstack-nova-compute";
  /** When a host last answered any command in this process (a host that just did needs no probe). */
  lastAnsweredAt?(host: string): number | undefined;
  /** @defaultValue {@link HOST_CHECK_TIMEOUT_MS} */
  timeoutMs?: number;
  /** @defaultValue {@link HOSTS_CHECK_CACHE_MS} */
  cacheMs?: number;
  /** @defaultValue {@link HOSTS_CHECK_CONCURRENCY} */
  concurrency?: number;
}

/**
 * Every inventory host answers over SSH: `systemctl is-active <nova-compute>` (the cheapest command
 * in the catalogue; its answer does not matter, only that the host ran it), each bounded, the whole
 * result cached. Fails naming each host that did not answer, and why.
 */
export function hostsCheck(hosts: Pick<HostsPort, "run">, opts: HostsCheckOptions): ReadinessCheck {
  const timeoutMs = opts.timeoutMs ?? HOST_CHECK_TIMEOUT_MS;
  const cacheMs = opts.cacheMs ?? HOSTS_CHECK_CACHE_MS;
  const probe = async (host: string): Promise<string | null> => {
    const last = opts.lastAnsweredAt?.(host);
    if (last !== undefined && Date.now() - last < cacheMs) return null;
    try {
      await withTimeout(
        hosts.run(
          host,
          { kind: "systemctl-is-active", service: opts.serviceFor(host) },
          { timeoutMs, allowNonZeroExit: true },
        ),
        timeoutMs,
        `${host} (SSH)`,
      );
      return null;
    } catch (err) {
      return reasonOf(err, []);
    }
  };
  return cachedCheck(
    async () => {
      const failures: { host: string; reason: string }[] = [];
      const queue = [...opts.names];
      const lanes = Array.from(
        { length: Math.min(opts.concurrency ?? HOSTS_CHECK_CONCURRENCY, queue.length) },
        async () => {
          for (let host = queue.shift(); host !== undefined; host = queue.shift()) {
            const reason = await probe(host);
            if (reason !== null) failures.push({ host, reason });
          }
        },
      );
      await Promise.all(lanes);
      if (failures.length === 0) return `${opts.names.length} of ${opts.names.length} hosts answer over SSH`;
      const named = failures
        .slice(0, FAILING_HOSTS_NAMED)
        .map((f) => `${f.host} (${f.reason})`)
        .join("; ");
      const more =
        failures.length > FAILING_HOSTS_NAMED ? `; and ${failures.length - FAILING_HOSTS_NAMED} more` : "";
      throw new Error(
        `${failures.length} of ${opts.names.length} hosts do not answer over SSH: ${named}${more}`,
      );
    },
    cacheMs,
    cacheMs,
  );
}

/** An error as one line a person can act on, with secret-looking text and the given secrets removed. */
export function reasonOf(err: unknown, secrets: readonly string[]): string {
  let text = (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
  for (const secret of secrets) if (secret.length >= 4) text = text.split(secret).join("[redacted]");
  text = redactText(text);
  return text.length > REASON_MAX_CHARS ? `${text.slice(0, REASON_MAX_CHARS - 1)}…` : text;
}

/** Why a process is not ready before it has started or once it is stopping. */
const LIFECYCLE_REASONS = {
  starting: "starting: not taking work yet",
  stopping: "shutting down: no new work is taken",
} as const;

/** The checks of one process and where it is in its life; answers /readyz. */
export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private lifecycle: "starting" | "running" | "stopping" = "starting";

  /** `secrets`: values that must never appear in a report (tokens, passwords), removed if they do. */
  constructor(private readonly secrets: readonly string[] = []) {}

  /** Adds (or replaces) the check of that name. */
  add(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** The process has started: from now on only the checks decide. */
  started(): void {
    if (this.lifecycle === "starting") this.lifecycle = "running";
  }

  /** The process is stopping: not ready from now on, whatever the checks say. */
  stopping(): void {
    this.lifecycle = "stopping";
  }

  /** Runs every check at once and reports each. */
  async report(): Promise<ReadinessReport> {
    const checks: Record<string, CheckReport> = {};
    if (this.lifecycle !== "running") {
      checks.process = { ok: false, detail: LIFECYCLE_REASONS[this.lifecycle], ms: 0 };
    }
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        const started = Date.now();
        try {
          const detail = await check();
          checks[name] = { ok: true, detail: reasonOf(detail, this.secrets), ms: Date.now() - started };
        } catch (err) {
          checks[name] = { ok: false, detail: reasonOf(err, this.secrets), ms: Date.now() - started };
        }
      }),
    );
    const failing = ["process", ...this.checks.keys()].filter((name) => checks[name]?.ok === false);
    const ordered: Record<string, CheckReport> = {};
    for (const name of ["process", ...this.checks.keys()]) if (checks[name]) ordered[name] = checks[name]!;
    return { status: failing.length === 0 ? "ready" : "not ready", failing, checks: ordered };
  }
}
