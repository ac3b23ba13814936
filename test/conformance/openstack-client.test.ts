/**
 * The stock `openstack` client (Debian 12's python3-openstackclient 6.0.0) against
 * `migbot sandbox`, for what an operator does around a live migration: list and show servers (by
 * name), start a live migration to a named host or to the one Nova's scheduler picks (block or
 * not), follow, show, abort and force-complete it, read the server's events, look at hypervisors and compute services, and
 * disable and enable a compute service — and every timestamp the API shows is the real time of the
 * event, although the sandbox's model runs ten times faster.
 *
 * Needs `openstack` on PATH (`apt-get install python3-openstackclient`; .ci/run installs it). With
 * CI=true a missing client is a failure; elsewhere the file skips and says why.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../support/fixtures";

/** One `openstack` command: Python, the SDK and a token request (~2-5 s on two busy cores). */
const CLI_TIMEOUT_MS = 60_000;
/** `migbot sandbox` listens within a few seconds. */
const SANDBOX_START_TIMEOUT_MS = 60_000;
const POLL_MS = 500;
/** The client's newest microversion (novaclient 18.1.0 knows 2.1-2.92); migrations need 2.22 and more. */
const CLIENT_MICROVERSION = "2.92";
/** How far an API timestamp may be from the wall clock: the sandbox's model runs 10× faster than it. */
const WALL_CLOCK_TOLERANCE_MS = 5 * 60_000;

function openstackOnPath(): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, "openstack"))) return join(dir, "openstack");
  }
  return null;
}

const openstack = openstackOnPath();
const skipReason =
  openstack === null
    ? "the openstack client is not installed (apt-get install python3-openstackclient)"
    : null;
if (skipReason !== null) {
  if (process.env.CI === "true") throw new Error(`${skipReason}; .ci/run installs it`);
  console.log(`[conformance] skipping the stock client test: ${skipReason}`);
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(skipReason !== null)("the stock openstack client against `migbot sandbox`", () => {
  let dataDir: string;
  let sandbox: ChildProcess;
  let sandboxOutput = "";

  function os(args: string[], mv?: string): Promise<CliResult> {
    const env = {
      ...process.env,
      OS_CLIENT_CONFIG_FILE: join(dataDir, "clouds.yaml"),
      OS_CLOUD: "migbot-sandbox",
      ...(mv !== undefined && { OS_COMPUTE_API_VERSION: mv }),
    };
    return new Promise((resolve) => {
      execFile(
        openstack!,
        args,
        { env, timeout: CLI_TIMEOUT_MS, encoding: "utf8" },
        (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** Runs a command that must succeed and prints JSON; returns the parsed output. */
  async function json<T>(args: string[], mv?: string): Promise<T> {
    const r = await os([...args, "-f", "json"], mv);
    expect(r.code, `openstack ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout) as T;
  }

  async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  function nearNow(timestamp: unknown): void {
    expect(typeof timestamp).toBe("string");
    const text = String(timestamp);
    const ms = Date.parse(/Z$|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`);
    expect(Math.abs(ms - Date.now()), `${text} is not the wall-clock time`).toBeLessThan(
      WALL_CLOCK_TOLERANCE_MS,
    );
  }

  type Row = Record<string, unknown>;
  const migrationsOf = (server: string) =>
    json<Row[]>(["server", "migration", "list", "--server", server], CLIENT_MICROVERSION);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "migbot-osc-"));
    sandbox = spawn(
      process.execPath,
      [join(PROJECT_ROOT, "bin/migbot.mjs"), "sandbox", "--data-dir", dataDir],
      {
        cwd: PROJECT_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    sandbox.stdout!.on("data", (b: Buffer) => {
      sandboxOutput += b.toString();
    });
    await until("migbot sandbox to print its clouds.yaml", SANDBOX_START_TIMEOUT_MS, async () =>
      sandboxOutput.includes("Ctrl-C stops it") ? true : undefined,
    );
  }, SANDBOX_START_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    if (sandbox && sandbox.exitCode === null) {
      const exited = new Promise((r) => sandbox.once("exit", r));
      sandbox.kill("SIGTERM");
      await exited;
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    "lists servers of all projects and by name, with their images and flavors",
    async () => {
      const all = await json<Row[]>(["server", "list", "--all-projects"]);
      expect(all.map((s) => s.Name)).toEqual(expect.arrayContaining(["vm-42", "db-1", "web-7"]));
      expect(all.find((s) => s.Name === "vm-42")).toMatchObject({
        Status: "ACTIVE",
        Flavor: "m1.small",
        Image: expect.stringMatching(/ubuntu/),
      });
      const named = await json<Row[]>(["server", "list", "--name", "vm-42"]);
      expect(named.map((s) => s.Name)).toEqual(["vm-42"]);
    },
    2 * CLI_TIMEOUT_MS,
  );

  it(
    "shows a server by name, with the admin's host attributes and wall-clock dates",
    async () => {
      const s = await json<Row>(["server", "show", "vm-42"]);
      expect(s).toMatchObject({
        name: "vm-42",
        status: "ACTIVE",
        "OS-EXT-SRV-ATTR:host": "compute-1",
        "OS-EXT-SRV-ATTR:instance_name": "instance-0000002a",
      });
      nearNow(s.created);
      nearNow(s.updated);
      const latest = await json<Row>(["server", "show", "vm-42"], CLIENT_MICROVERSION);
      expect(latest).toMatchObject({ host_status: "UP", locked: false });
    },
    2 * CLI_TIMEOUT_MS,
  );

  it(
    "lists and shows hypervisors, and lists compute services up with fresh reports",
    async () => {
      const hypervisors = await json<Row[]>(["hypervisor", "list"]);
      expect(hypervisors.map((h) => h["Hypervisor Hostname"])).toEqual(
        expect.arrayContaining(["compute-1", "compute-5"]),
      );
      const shown = await json<Row>(["hypervisor", "show", "compute-1"]);
      expect(shown).toMatchObject({ hypervisor_hostname: "compute-1", state: "up", status: "enabled" });
      const latest = await json<Row>(["hypervisor", "show", "compute-1"], CLIENT_MICROVERSION);
      expect(latest).toMatchObject({ hypervisor_hostname: "compute-1", state: "up" });
      const services = await json<Row[]>(["compute", "service", "list"]);
      const computes = services.filter((s) => s.Binary === "nova-compute");
      expect(computes).toHaveLength(5);
      for (const c of computes) {
        expect(c).toMatchObject({ Status: "enabled", State: "up" });
        nearNow(c["Updated At"]);
      }
    },
    4 * CLI_TIMEOUT_MS,
  );

  it(
    "disables a compute service with a reason: a live migration there is refused, and the event says why",
    async () => {
      const off = await os(
        [
          "compute",
          "service",
          "set",
          "--disable",
          "--disable-reason",
          "disk swap",
          "compute-3",
          "nova-compute",
        ],
        CLIENT_MICROVERSION,
      );
      expect(off.code, off.stderr).toBe(0);
      const listed = await json<Row[]>(["compute", "service", "list", "--long"], CLIENT_MICROVERSION);
      expect(listed.find((s) => s.Host === "compute-3")).toMatchObject({
        Status: "disabled",
        "Disabled Reason": "disk swap",
      });

      const move = await os(
        ["server", "migrate", "--live-migration", "--host", "compute-3", "vm-42"],
        CLIENT_MICROVERSION,
      );
      expect(move.code, move.stderr).toBe(0);
      const refused = await until("the refused migration in error", CLI_TIMEOUT_MS, async () => {
        const [m] = await migrationsOf("vm-42");
        return m?.Status === "error" ? m : undefined;
      });
      expect(refused).toMatchObject({ "Source Compute": "compute-1", "Dest Compute": null });
      nearNow(refused["Created At"]);
      const events = await json<Row[]>(["server", "event", "list", "vm-42"], CLIENT_MICROVERSION);
      expect(events[0]).toMatchObject({ Action: "live-migration" });
      nearNow(events[0]!["Start Time"]);
      const event = await json<{ events: Row[]; message: string }>(
        ["server", "event", "show", "vm-42", String(events[0]!["Request ID"])],
        CLIENT_MICROVERSION,
      );
      expect(event.message).toBe("Error");
      expect(event.events[0]).toMatchObject({
        event: "conductor_live_migrate_instance",
        result: "Error",
        details: expect.stringMatching(/^No valid host was found\./),
      });

      const on = await os(
        ["compute", "service", "set", "--enable", "compute-3", "nova-compute"],
        CLIENT_MICROVERSION,
      );
      expect(on.code, on.stderr).toBe(0);
      const after = await json<Row[]>(["compute", "service", "list", "--long"], CLIENT_MICROVERSION);
      expect(after.find((s) => s.Host === "compute-3")).toMatchObject({
        Status: "enabled",
        "Disabled Reason": null,
      });
    },
    10 * CLI_TIMEOUT_MS,
  );

  it(
    "starts a live migration to a named host, shows it while it runs, aborts it, then force-completes a block migration",
    async () => {
      const started = await os(
        ["server", "migrate", "--live-migration", "--host", "compute-2", "db-1"],
        CLIENT_MICROVERSION,
      );
      expect(started.code, started.stderr).toBe(0);
      const running = await until("the migration running", CLI_TIMEOUT_MS, async () => {
        const [m] = await migrationsOf("db-1");
        return m?.Status === "running" ? m : undefined;
      });
      expect(running).toMatchObject({
        "Source Compute": "compute-1",
        "Dest Compute": "compute-2",
        Type: "live-migration",
      });
      nearNow(running["Created At"]);
      const shown = await json<Row>(
        ["server", "migration", "show", "db-1", String(running.Id)],
        CLIENT_MICROVERSION,
      );
      expect(shown).toMatchObject({ Status: "running", "Memory Total Bytes": 8 * 1024 ** 3 });
      expect(Number(shown["Memory Processed Bytes"])).toBeGreaterThan(0);
      nearNow(shown["Updated At"]);

      const abort = await os(
        ["server", "migration", "abort", "db-1", String(running.Id)],
        CLIENT_MICROVERSION,
      );
      expect(abort.code, abort.stderr).toBe(0);
      await until("the migration cancelled", CLI_TIMEOUT_MS, async () => {
        const [m] = await migrationsOf("db-1");
        return m?.Status === "cancelled" ? m : undefined;
      });
      expect((await json<Row>(["server", "show", "db-1"]))["OS-EXT-SRV-ATTR:host"]).toBe("compute-1");

      const block = await os(
        ["server", "migrate", "--live-migration", "--block-migration", "--host", "compute-2", "db-1"],
        CLIENT_MICROVERSION,
      );
      expect(block.code, block.stderr).toBe(0);
      const again = await until("the second migration running", CLI_TIMEOUT_MS, async () => {
        const [m] = await migrationsOf("db-1");
        return m?.Status === "running" && m.Id !== running.Id ? m : undefined;
      });
      const force = await os(
        ["server", "migration", "force", "complete", "db-1", String(again.Id)],
        CLIENT_MICROVERSION,
      );
      expect(force.code, force.stderr).toBe(0);
      const done = await until("the migration completed", CLI_TIMEOUT_MS, async () => {
        const [m] = await migrationsOf("db-1");
        return m?.Status === "completed" ? m : undefined;
      });
      nearNow(done["Updated At"]);
      expect((await json<Row>(["server", "show", "db-1"]))["OS-EXT-SRV-ATTR:host"]).toBe("compute-2");

      const events = await json<Row[]>(["server", "event", "list", "db-1"], CLIENT_MICROVERSION);
      expect(events.map((e) => e.Action)).toEqual([
        "live_migration_force_complete",
        "live-migration",
        "live_migration_cancel",
        "live-migration",
        "create",
      ]);
    },
    16 * CLI_TIMEOUT_MS,
  );

  it(
    "live-migrates with no host named: Nova's scheduler picks one, and the migration completes there",
    async () => {
      const before = String((await json<Row>(["server", "show", "vm-42"]))["OS-EXT-SRV-ATTR:host"]);
      const known = new Set((await migrationsOf("vm-42")).map((m) => m.Id));
      const started = await os(["server", "migrate", "--live-migration", "vm-42"], CLIENT_MICROVERSION);
      expect(started.code, started.stderr).toBe(0);
      const done = await until("the scheduled migration completed", 2 * CLI_TIMEOUT_MS, async () => {
        const m = (await migrationsOf("vm-42")).find((x) => !known.has(x.Id));
        if (m?.Status === "error" || m?.Status === "failed") throw new Error(`it ended ${m.Status}`);
        return m?.Status === "completed" ? m : undefined;
      });
      expect(done["Source Compute"]).toBe(before);
      expect(done["Dest Compute"]).not.toBe(before);
      expect((await json<Row>(["server", "show", "vm-42"]))["OS-EXT-SRV-ATTR:host"]).toBe(
        done["Dest Compute"],
      );
    },
    4 * CLI_TIMEOUT_MS,
  );
});
