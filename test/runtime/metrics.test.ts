/**
 * migbot's metrics as an operator gets them: a real Prometheus (Debian's `prometheus` package,
 * started by hand on loopback with the shipped scrape config pointed at a sandbox stack) scrapes
 * /metrics while a migration runs, and the counters are read back through Prometheus' own HTTP
 * query API. Also: the shipped config passes `promtool check config`.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse, stringify } from "yaml";
import { freeLoopbackPort } from "../../src/runtime/redis-server";
import { SANDBOX_CHANNEL, type SandboxStack, startSandboxStack } from "../../src/runtime/stack";
import { PROJECT_ROOT } from "../support/fixtures";
import { requireProgram } from "../support/programs";
import { until } from "../support/until";

const SHIPPED_CONFIG = resolve(PROJECT_ROOT, "deploy/prometheus/prometheus.yml");
/** Prometheus starts (TSDB, rule manager, web) in about a second here; allow for a busy machine. */
const PROMETHEUS_READY_TIMEOUT_MS = 30_000;
/** Scrapes every second, so a counter shows in Prometheus within a few seconds of changing. */
const SCRAPE_INTERVAL = "1s";
const PROMETHEUS_STOP_TIMEOUT_MS = 10_000;

/** Prometheus and promtool, or why this suite cannot run here (CI installs them: `.ci/run`). */
function findPrometheus(): { prometheus: string; promtool: string } | { missing: string } {
  try {
    return {
      prometheus: requireProgram("prometheus", "prometheus"),
      promtool: requireProgram("promtool", "prometheus"),
    };
  } catch (err) {
    // In CI nothing may be skipped: the suite fails with requireProgram's install hint.
    if (process.env.CI === "true") throw err;
    return { missing: (err as Error).message };
  }
}
const found = findPrometheus();
const skipReason = "missing" in found ? found.missing : undefined;
if (skipReason) console.warn(`metrics.test.ts skipped: ${skipReason}`);

let stack: SandboxStack;
let prometheus: ChildProcess | null = null;
let prometheusLog = "";
let dir = "";
let api = "";

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query through Prometheus' HTTP API. */
async function query(expr: string): Promise<Sample[]> {
  const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { result: Sample[] } };
  if (body.status !== "success") throw new Error(`query ${expr} failed: ${body.error}`);
  return body.data!.result;
}

/** Waits until the query returns samples that satisfy `ok`. */
function queryUntil(expr: string, ok: (s: Sample[]) => boolean, timeoutMs = 30_000): Promise<Sample[]> {
  let last: Sample[] = [];
  return until(
    `Prometheus to answer ${expr}`,
    async () => {
      last = await query(expr);
      return ok(last) ? last : undefined;
    },
    {
      timeoutMs,
      intervalMs: 250,
      explain: () =>
        `last answer: ${JSON.stringify(last)}\n--- prometheus log ---\n${prometheusLog.slice(-2000)}`,
    },
  );
}

describe.skipIf(skipReason !== undefined)("Prometheus", () => {
  beforeAll(async () => {
    if (!("prometheus" in found)) return;
    const bin = found.prometheus;
    stack = await startSandboxStack({ redisUrl: inject("redisUrl"), prefix: `metrics-${randomUUID()}` });
    // In HTTP mode the bot's receiver serves /metrics next to /slack/events.
    const target = new URL(stack.bot.url!).host;

    // The shipped config, its bot job pointed at this stack (the workers' job needs compose's DNS).
    const shipped = parse(readFileSync(SHIPPED_CONFIG, "utf8")) as {
      global: Record<string, string>;
      scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[];
    };
    const botJob = shipped.scrape_configs.find((j) => j.job_name === "migbot-bot")!;
    const config = {
      ...shipped,
      global: { ...shipped.global, scrape_interval: SCRAPE_INTERVAL, scrape_timeout: SCRAPE_INTERVAL },
      scrape_configs: [{ ...botJob, static_configs: [{ targets: [target] }] }],
    };
    dir = mkdtempSync(join(tmpdir(), "migbot-prometheus-"));
    writeFileSync(join(dir, "prometheus.yml"), stringify(config));
    const port = await freeLoopbackPort();
    api = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      bin,
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    prometheus.stderr?.on("data", (d: Buffer) => {
      prometheusLog += d.toString();
    });
    await until(
      "Prometheus to be ready",
      async () => {
        if (prometheus!.exitCode !== null)
          throw new Error(`prometheus exited: ${prometheusLog.slice(-2000)}`);
        return (await fetch(`${api}/-/ready`).catch(() => null))?.ok;
      },
      { timeoutMs: PROMETHEUS_READY_TIMEOUT_MS, intervalMs: 200 },
    );
  });

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
      const exited = new Promise((r) => prometheus!.once("exit", r));
      prometheus.kill("SIGTERM");
      const timer = setTimeout(() => prometheus!.kill("SIGKILL"), PROMETHEUS_STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    await stack?.stop();
  });

  it("the shipped scrape config passes promtool", () => {
    if (!("promtool" in found)) return;
    const res = spawnSync(found.promtool, ["check", "config", SHIPPED_CONFIG], {
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(res.stdout + res.stderr).toMatch(/SUCCESS/);
    expect(res.status).toBe(0);
  });

  it("a real Prometheus scrapes a migration's counters from /metrics and reads them back through its query API", async () => {
    const up = await queryUntil('up{job="migbot-bot"}', (s) => s[0]?.value[1] === "1");
    expect(up).toHaveLength(1);
    // Nothing ran yet: no completed migration in Prometheus.
    expect(await query('migbot_migrations_total{outcome="completed"}')).toEqual([]);

    const res = await stack.slack.slashCommand({
      user: "alice",
      channel: "ops",
      command: "/migrate",
      text: "vm-42 to compute-3",
    });
    expect(res.status).toBe(200);
    await until(
      "the migration to complete",
      () => {
        const root = stack.slack.messages(SANDBOX_CHANNEL.id)[0];
        return root !== undefined && /Completed/.test(root.text);
      },
      { timeoutMs: 60_000 },
    );

    const completed = await queryUntil('migbot_migrations_total{outcome="completed"}', (s) => s.length > 0);
    expect(completed).toHaveLength(1);
    expect(completed[0]!.metric).toMatchObject({ job: "migbot-bot", role: "all", phase: "commitment" });
    expect(Number(completed[0]!.value[1])).toBe(1);

    // Each of the five phases was entered once, and the time in pre-copy was measured.
    const phases = await queryUntil("migbot_migration_phases_reached_total", (s) => s.length === 5);
    expect(Object.fromEntries(phases.map((s) => [s.metric.phase, Number(s.value[1])]))).toEqual({
      "pre-migration": 1,
      reservation: 1,
      precopy: 1,
      "stop-and-copy": 1,
      commitment: 1,
    });
    const precopy = await query('migbot_migration_phase_duration_seconds_count{phase="precopy"}');
    expect(Number(precopy[0]?.value[1])).toBe(1);
    // The job waited for a worker once; os-migrateLive was one POST Nova accepted; SSH and Slack were used.
    expect(Number((await query('migbot_queue_wait_seconds_count{queue="migrations"}'))[0]?.value[1])).toBe(1);
    const posts = await query('migbot_nova_requests_total{method="POST",status_class="2xx"}');
    expect(Number(posts[0]?.value[1])).toBeGreaterThanOrEqual(1);
    const domjobinfo = await query('sum(migbot_ssh_commands_total{kind="virsh-domjobinfo"})');
    expect(Number(domjobinfo[0]?.value[1])).toBeGreaterThanOrEqual(1);
    const slackPosts = await query('migbot_slack_api_calls_total{method="chat.postMessage"}');
    expect(Number(slackPosts[0]?.value[1])).toBeGreaterThanOrEqual(6);
    expect(await query("migbot_slack_api_rate_limited_total")).toEqual([]);
    expect(Number((await query("migbot_migrations_active"))[0]?.value[1])).toBe(0);
  }, 120_000);
});
