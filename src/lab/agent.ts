/**
 * The lab's nova-compute: a small agent that runs inside one lab host's namespaces and does what
 * nova-compute's libvirt driver does for a live migration, with the real tools:
 *
 * - at start it reads the host's nova config files (release-aware, `nova-conf/effective.ts`); a
 *   config nova would refuse makes it log `CRITICAL nova` and exit, and `systemctl is-active` then
 *   says `failed`;
 * - a live migration is `virsh migrate --live --p2p … qemu+ssh://<dest>/system`, its flags derived
 *   from the config as the driver derives them (Mitaka's `live_migration_flag` list, Newton+'s
 *   permit options), `--bandwidth` from `live_migration_bandwidth`;
 * - Nova's monitor: `virsh domjobinfo` every 0.5 s, the downtime steps
 *   (`virsh migrate-setmaxdowntime`), the progress and completion timeouts (then `domjobabort`), and
 *   Nova's log lines in `/var/log/nova/nova-compute.log`;
 * - heartbeats (service state, domains, migration progress) to the data plane's socket.
 */

import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { dirname } from "node:path";
import { CodedError } from "../errors";
import { effectiveSettings, type LiveMigrationSettings, type MigrationType } from "../nova-conf/effective";
import { type ReleaseInfo, releaseByName } from "../nova-conf/releases";
import { type DowntimeStage, migrationFigures } from "../nova-facts";
import { formatNovaLog, type NovaLogLevel } from "../sandbox/nova-log";
import {
  type AgentHeartbeat,
  type AgentMigrationReport,
  agentPidPath,
  agentSocketPath,
  agentUnitStatePath,
  conductorSocketPath,
  type LiveMigrationCast,
  type PrecheckAnswer,
  type PrecheckCall,
  readJsonBody,
  socketRequest,
} from "./agent-protocol";
import { compareWithDeclaredCpu } from "./declared-cpu";
import { parseDomJobInfo } from "./domjobinfo";
import { runCommand } from "./exec";

/** Nova's monitor polls the job this often (`_live_migration_monitor`: `time.sleep(0.5)`). */
export const MONITOR_POLL_INTERVAL_MS = 500;
/** Nova logs progress at INFO once every this many polls (30 s), at DEBUG otherwise. */
export const PROGRESS_LOG_EVERY_POLLS = 60;
/** How often the agent reports to the data plane (Nova's `report_interval` is 10 s; the lab is faster). */
export const HEARTBEAT_INTERVAL_MS = 1_000;
/** One heartbeat or report may take this long before it is dropped (the next one follows anyway). */
const REPORT_TIMEOUT_MS = 2_000;
/** A virsh call (list, domjobinfo, domjobabort) that takes longer is stuck. */
const VIRSH_CALL_TIMEOUT_MS = 15_000;
/**
 * Whatever the config says, `virsh migrate` is killed after this: the lab must never leave a
 * migration running (a completion timeout of 0 means "none" in Nova).
 */
export const MIGRATION_HARD_LIMIT_MS = 15 * 60_000;
/** post_live_migration on both hosts before Nova marks the migration completed. */
const POST_MIGRATION_MS = 1_000;
/** How long a stopping agent waits for its migrations' virsh to exit after aborting them. */
const STOP_ABORT_WAIT_MS = 5_000;

const LIBVIRT_COMPARE_URL = "http://libvirt.org/html/libvirt-libvirt-host.html#virCPUCompareResult";

/** The real virsh (not the host's PATH wrapper, which answers CPU questions from the declared CPU). */
export const REAL_VIRSH = "/usr/bin/virsh";
export const NOVA_CONF_PATH = "/etc/nova/nova.conf";
export const NOVA_COMPUTE_CONF_PATH = "/etc/nova/nova-compute.conf";
export const NOVA_COMPUTE_LOG_PATH = "/var/log/nova/nova-compute.log";

/** nova's version per lab release, as `nova-compute --version` prints it. */
export const NOVA_VERSIONS: Record<string, string> = { mitaka: "13.1.4", zed: "26.2.2" };

/** libvirt's virsh option for each `VIR_MIGRATE_*` flag Nova may pass (virsh-domain.c). */
const FLAG_OPTIONS: Record<string, string> = {
  VIR_MIGRATE_LIVE: "--live",
  VIR_MIGRATE_PEER2PEER: "--p2p",
  VIR_MIGRATE_TUNNELLED: "--tunnelled",
  VIR_MIGRATE_PERSIST_DEST: "--persistent",
  VIR_MIGRATE_UNDEFINE_SOURCE: "--undefinesource",
  VIR_MIGRATE_PAUSED: "--suspend",
  VIR_MIGRATE_NON_SHARED_DISK: "--copy-storage-all",
  VIR_MIGRATE_NON_SHARED_INC: "--copy-storage-inc",
  VIR_MIGRATE_CHANGE_PROTECTION: "--change-protection",
  VIR_MIGRATE_UNSAFE: "--unsafe",
  VIR_MIGRATE_OFFLINE: "--offline",
  VIR_MIGRATE_COMPRESSED: "--compressed",
  VIR_MIGRATE_ABORT_ON_ERROR: "--abort-on-error",
  VIR_MIGRATE_AUTO_CONVERGE: "--auto-converge",
  VIR_MIGRATE_RDMA_PIN_ALL: "--rdma-pin-all",
  VIR_MIGRATE_POSTCOPY: "--postcopy",
  VIR_MIGRATE_TLS: "--tls",
  VIR_MIGRATE_PARALLEL: "--parallel",
};

/**
 * The `VIR_MIGRATE_*` flags nova-compute passes to libvirt for a live migration (`type` "live", the
 * lab's guests have no disk to copy) or a block migration, as src/nova-facts derives them from the
 * config (Mitaka's live_migration_flag / block_migration_flag lists after its fix-ups; Newton+'s
 * permit options), in libvirt's bit order.
 */
export function novaMigrationFlags(settings: LiveMigrationSettings, type: MigrationType = "live"): string[] {
  return [...settings.flags[type]];
}

/**
 * `virsh migrate` arguments for one live migration. `--persistent` is always added, a lab choice
 * rather than Nova's: Mitaka drops PERSIST_DEST from its flags (and Newton has none) because
 * post_live_migration_at_destination defines the domain on the destination itself; the agent lets
 * libvirt do that define.
 */
export function virshMigrateArgsFor(
  settings: LiveMigrationSettings,
  domain: string,
  dest: string,
  type: MigrationType = "live",
): string[] {
  const flags = novaMigrationFlags(settings, type);
  const options: string[] = [];
  for (const flag of flags) {
    const option = FLAG_OPTIONS[flag];
    if (option !== undefined && !options.includes(option)) options.push(option);
  }
  if (!options.includes("--persistent")) options.push("--persistent");
  const args = ["migrate", ...options];
  if (settings.bandwidthMiBps > 0) args.push("--bandwidth", String(settings.bandwidthMiBps));
  args.push(domain, `qemu+ssh://${dest}/system`);
  return args;
}

/** Nova's figures for one migration of `memoryMb` of RAM from a source with these settings (src/nova-facts). */
export function novaTimeouts(
  settings: LiveMigrationSettings,
  memoryMb: number,
): { progressTimeoutS: number; completionTimeoutS: number; dataGiB: number; stages: DowntimeStage[] } {
  const f = migrationFigures(settings.release.major, {
    memoryMb,
    downtimeMs: settings.downtimeMs,
    downtimeSteps: settings.downtimeSteps,
    downtimeDelayS: settings.downtimeDelayS,
    completionTimeoutSPerGiB: settings.completionTimeoutS,
    progressTimeoutS: settings.progressTimeoutS,
  });
  return {
    progressTimeoutS: f.progressTimeoutS,
    completionTimeoutS: f.completionTimeoutS,
    dataGiB: f.dataGiB,
    stages: f.downtimeStages,
  };
}

/** Parses `virsh list --all`: domain name → state. */
export function parseDomainList(text: string): Record<string, string> {
  const domains: Record<string, string> = {};
  for (const line of text.split("\n").slice(2)) {
    const match = /^\s*(\S+)\s+(\S+)\s+(.+?)\s*$/.exec(line);
    if (match?.[2] !== undefined && match[3] !== undefined) domains[match[2]] = match[3];
  }
  return domains;
}

/** virsh's error lines without the `error: ` prefixes, as Nova logs libvirt's message. */
export function libvirtMessage(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.replace(/^error:\s*/, "").trim())
    .filter((l) => l !== "" && !/^Failed to /.test(l));
  return lines.join(" ") || stderr.trim();
}

export interface AgentOptions {
  host: string;
  stateDir: string;
  /** `mitaka` or `zed`. */
  release: string;
  /** The CPU this host declares (libvirt cputestdata XML), for the destination pre-check. */
  declaredCpuPath: string;
  /** @defaultValue ["/etc/nova/nova.conf", plus "/etc/nova/nova-compute.conf" when it exists] */
  configPaths?: string[];
  /** @defaultValue "/var/log/nova/nova-compute.log" */
  logPath?: string;
  /** @defaultValue HEARTBEAT_INTERVAL_MS */
  heartbeatIntervalMs?: number;
}

interface ActiveMigration {
  cast: LiveMigrationCast;
  report: AgentMigrationReport;
  cancelRequested: boolean;
  /** Set when the agent's own monitor aborted it (a timeout): Nova then marks it `error`. */
  abortedByMonitor: boolean;
  exited: Promise<void>;
}

/** Raised when nova-compute would refuse to start with its config. */
/** nova-compute cannot use its config: it logs CRITICAL and exits, as the real one does. */
export class AgentConfigError extends CodedError<"AGENT_CONFIG_INVALID"> {
  constructor(message: string) {
    super("AGENT_CONFIG_INVALID", message, { retryable: false });
  }
}

/** One nova-compute. `start()` reads the config (throws AgentConfigError), then serves and reports. */
export class NovaComputeAgent {
  readonly release: ReleaseInfo;
  readonly version: string;
  readonly startedAt = new Date().toISOString();
  settings: LiveMigrationSettings | null = null;
  private server: Server | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly migrations = new Map<number, ActiveMigration>();
  private readonly logPath: string;
  private stopping = false;

  constructor(readonly opts: AgentOptions) {
    this.release = releaseByName(opts.release);
    this.version = NOVA_VERSIONS[opts.release] ?? `${this.release.major}.0.0`;
    this.logPath = opts.logPath ?? NOVA_COMPUTE_LOG_PATH;
  }

  log(
    level: NovaLogLevel,
    logger: string,
    message: string,
    ctx: { requestId?: string; instance?: string } = {},
  ): void {
    // nova.conf leaves `debug` off, so nova-compute writes no DEBUG lines; neither does the agent.
    if (level === "DEBUG") return;
    mkdirSync(dirname(this.logPath), { recursive: true });
    appendFileSync(
      this.logPath,
      formatNovaLog(
        {
          time: new Date(),
          pid: process.pid,
          level,
          logger,
          requestId: ctx.requestId ?? null,
          instanceUuid: ctx.instance ?? null,
          message,
        },
        this.release.major,
      ),
    );
  }

  private configFiles(): { path: string; text: string }[] {
    const paths =
      this.opts.configPaths ??
      [NOVA_CONF_PATH, NOVA_COMPUTE_CONF_PATH].filter((p, i) => i === 0 || existsSync(p));
    return paths.map((path) => ({ path, text: readFileSync(path, "utf8") }));
  }

  /** Reads the config as nova-compute does at start; a config it cannot use is fatal. */
  loadConfig(): LiveMigrationSettings {
    this.log("INFO", "nova.service", `Starting compute node (version ${this.version})`);
    try {
      // Mitaka's nova logs an unknown flag and carries on; so does the agent.
      const settings = effectiveSettings(this.configFiles(), this.release, { unknownFlags: "ignore" });
      for (const warning of settings.warnings) this.log("WARNING", "nova.virt.libvirt.driver", warning);
      this.settings = settings;
      return settings;
    } catch (err) {
      const text = (err as Error).message;
      this.log("CRITICAL", "nova", `ConfigFileValueError: ${text}`);
      throw new AgentConfigError(text);
    }
  }

  async start(): Promise<void> {
    const settings = this.loadConfig();
    const socketPath = agentSocketPath(this.opts.stateDir, this.opts.host);
    rmSync(socketPath, { force: true });
    this.server = createServer((req, res) => {
      this.handle(req.method ?? "GET", req.url ?? "/", req)
        .then((body) => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify(body ?? null));
        })
        .catch((err: Error) => {
          res.writeHead(400, { "content-type": "text/plain" });
          res.end(err.message);
        });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(socketPath, resolve);
    });
    writeFileSync(agentUnitStatePath(this.opts.stateDir, this.opts.host), "active\n");
    this.log(
      "INFO",
      "nova.virt.libvirt.driver",
      `Live migration flags: ${novaMigrationFlags(settings).join(", ")}; bandwidth ${settings.bandwidthMiBps} MiB/s`,
    );
    const beat = () => {
      void this.sendHeartbeat();
    };
    beat();
    this.heartbeat = setInterval(beat, this.opts.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS);
  }

  /** SIGTERM: aborts migrations in flight (their monitor dies with the agent), stops serving. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log("INFO", "nova.service", "Caught SIGTERM, stopping children");
    if (this.heartbeat) clearInterval(this.heartbeat);
    const conductor = conductorSocketPath(this.opts.stateDir);
    if (existsSync(conductor)) {
      await socketRequest(
        conductor,
        "POST",
        "/stopping",
        { host: this.opts.host, pid: process.pid },
        REPORT_TIMEOUT_MS,
      ).catch(() => undefined);
    }
    const running = [...this.migrations.values()];
    for (const m of running) {
      m.cancelRequested = true;
      await this.virsh(["domjobabort", m.cast.domain]).catch(() => undefined);
    }
    await Promise.race([
      Promise.all(running.map((m) => m.exited)),
      new Promise((r) => setTimeout(r, STOP_ABORT_WAIT_MS)),
    ]);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    rmSync(agentSocketPath(this.opts.stateDir, this.opts.host), { force: true });
    writeFileSync(agentUnitStatePath(this.opts.stateDir, this.opts.host), "inactive\n");
    const pidPath = agentPidPath(this.opts.stateDir, this.opts.host);
    if (existsSync(pidPath) && readFileSync(pidPath, "utf8").trim() === String(process.pid)) rmSync(pidPath);
  }

  private virsh(args: string[], timeoutMs = VIRSH_CALL_TIMEOUT_MS) {
    return runCommand([REAL_VIRSH, "-c", "qemu:///system", ...args], { timeoutMs });
  }

  private async handle(method: string, url: string, body: AsyncIterable<Buffer>): Promise<unknown> {
    if (method === "GET" && url === "/state") return this.state();
    if (method === "POST" && url === "/live-migration") {
      return this.liveMigration((await readJsonBody(body)) as LiveMigrationCast);
    }
    if (method === "POST" && url === "/precheck") {
      const call = (await readJsonBody(body)) as PrecheckCall;
      return this.precheck(call);
    }
    const abort = /^\/migrations\/(\d+)\/abort$/.exec(url);
    if (method === "POST" && abort) return this.abort(Number(abort[1]));
    const forceComplete = /^\/migrations\/(\d+)\/force-complete$/.exec(url);
    if (method === "POST" && forceComplete) return this.forceComplete(Number(forceComplete[1]));
    if (method === "POST" && url === "/reboot") {
      const { domain, instanceUuid } = (await readJsonBody(body)) as { domain: string; instanceUuid: string };
      return this.hardReboot(domain, instanceUuid);
    }
    throw new Error(`no such agent call: ${method} ${url}`);
  }

  async state(): Promise<AgentHeartbeat> {
    const list = await this.virsh(["list", "--all"]);
    const s = this.settings!;
    return {
      host: this.opts.host,
      pid: process.pid,
      startedAt: this.startedAt,
      version: this.version,
      release: this.release.name,
      // The lab's guests have no disk to copy: their migrations take the live flags.
      autoConverge: s.autoConvergeFor.live,
      postCopy: s.postCopy,
      bandwidthMiBps: s.bandwidthMiBps,
      domains: list.code === 0 ? parseDomainList(list.stdout) : {},
      migrations: [...this.migrations.values()].map((m) => ({ ...m.report })),
    };
  }

  private async sendHeartbeat(): Promise<void> {
    const socket = conductorSocketPath(this.opts.stateDir);
    if (this.stopping || !existsSync(socket)) return;
    try {
      await socketRequest(socket, "POST", "/heartbeat", await this.state(), REPORT_TIMEOUT_MS);
    } catch {
      // The data plane may be restarting; the next heartbeat tries again.
    }
  }

  private async report(m: ActiveMigration): Promise<void> {
    const socket = conductorSocketPath(this.opts.stateDir);
    if (!existsSync(socket)) return;
    await socketRequest(
      socket,
      "POST",
      "/migration",
      { host: this.opts.host, ...m.report },
      REPORT_TIMEOUT_MS,
    ).catch(() => undefined);
  }

  private async precheck(call: PrecheckCall): Promise<PrecheckAnswer> {
    // Nova's _compare_cpu gets libvirt's error (virConnectCompareCPU with FAIL_INCOMPATIBLE).
    const answer = await compareWithDeclaredCpu(call.cpuXml, this.opts.declaredCpuPath, "/dev/stdin", {
      error: true,
    });
    if (!answer.compatible) {
      this.log(
        "ERROR",
        "nova.virt.libvirt.driver",
        `CPU doesn't have compatibility.\n\n${libvirtMessage(answer.text)}\n\nRefer to ${LIBVIRT_COMPARE_URL}`,
        { requestId: call.requestId },
      );
    }
    return answer;
  }

  private liveMigration(cast: LiveMigrationCast): { accepted: true } {
    if (this.migrations.has(cast.migrationId)) return { accepted: true };
    const settings = this.settings!;
    const args = virshMigrateArgsFor(settings, cast.domain, cast.dest);
    const m: ActiveMigration = {
      cast,
      report: {
        migrationId: cast.migrationId,
        domain: cast.domain,
        dest: cast.dest,
        status: "preparing",
        memoryTotalBytes: cast.memoryMb * 1024 * 1024,
        memoryProcessedBytes: 0,
        memoryRemainingBytes: cast.memoryMb * 1024 * 1024,
        virshArgs: args,
      },
      cancelRequested: false,
      abortedByMonitor: false,
      exited: Promise.resolve(),
    };
    this.migrations.set(cast.migrationId, m);
    m.exited = this.runMigration(m, args, settings).catch((err: Error) => {
      m.report.status = "error";
      m.report.fault = err.message;
      void this.report(m);
    });
    return { accepted: true };
  }

  private async runMigration(m: ActiveMigration, args: string[], settings: LiveMigrationSettings) {
    const ctx = { requestId: m.cast.requestId, instance: m.cast.instanceUuid };
    const mitaka = this.release.major <= 13;
    const driver = "nova.virt.libvirt.driver";
    const migrationLogger = mitaka ? driver : "nova.virt.libvirt.migration";
    const { progressTimeoutS, completionTimeoutS, stages } = novaTimeouts(settings, m.cast.memoryMb);
    this.log("INFO", driver, `Starting live migration: virsh ${args.join(" ")}`, ctx);
    await this.report(m);

    const started = Date.now();
    const child = spawn(REAL_VIRSH, ["-c", "qemu:///system", ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString("utf8");
    });
    let exitCode: number | null | undefined;
    const exited = new Promise<void>((resolve) => {
      child.on("close", (code) => {
        exitCode = code;
        resolve();
      });
    });
    const hardLimit = setTimeout(() => child.kill("SIGKILL"), MIGRATION_HARD_LIMIT_MS);

    let watermark: number | null = null;
    let watermarkAt = Date.now();
    let polls = 0;
    let progressPolls = 0;
    const maxPolls = Math.ceil(MIGRATION_HARD_LIMIT_MS / MONITOR_POLL_INTERVAL_MS) + 1;
    while (exitCode === undefined && polls < maxPolls) {
      polls++;
      await Promise.race([exited, new Promise((r) => setTimeout(r, MONITOR_POLL_INTERVAL_MS))]);
      if (exitCode !== undefined) break;
      const result = await this.virsh(["domjobinfo", m.cast.domain]);
      const info = parseDomJobInfo(result.code === 0 ? result.stdout : "");
      if (info.jobType !== "Unbounded" || m.abortedByMonitor || m.cancelRequested) continue;
      const elapsedS = (Date.now() - started) / 1000;
      if (m.report.status === "preparing") m.report.status = "running";
      const total = bytesField(info.fields["Data total"]) ?? m.report.memoryTotalBytes;
      const remaining = info.dataRemainingBytes ?? m.report.memoryRemainingBytes;
      const processed = bytesField(info.fields["Data processed"]) ?? m.report.memoryProcessedBytes;
      m.report.memoryTotalBytes = total;
      m.report.memoryRemainingBytes = remaining;
      m.report.memoryProcessedBytes = processed;

      while (stages.length > 0 && elapsedS >= stages[0]!.atS) {
        const stage = stages.shift()!;
        this.log(
          "INFO",
          migrationLogger,
          `Increasing downtime to ${stage.downtimeMs} ms after ${Math.trunc(elapsedS)} sec elapsed time`,
          ctx,
        );
        await this.virsh(["migrate-setmaxdowntime", m.cast.domain, String(stage.downtimeMs)]);
      }

      // Nova's low watermark of data remaining: no new low for progress_timeout seconds = stuck.
      if (watermark === null || watermark === 0 || remaining < watermark) {
        watermark = remaining;
        watermarkAt = Date.now();
      }
      const stuckForS = (Date.now() - watermarkAt) / 1000;
      if (progressTimeoutS > 0 && stuckForS > progressTimeoutS) {
        this.log("WARNING", driver, `Live migration stuck for ${Math.trunc(stuckForS)} sec`, ctx);
        m.abortedByMonitor = true;
        await this.virsh(["domjobabort", m.cast.domain]);
      } else if (completionTimeoutS > 0 && elapsedS > completionTimeoutS) {
        this.log(
          "WARNING",
          migrationLogger,
          `Live migration not completed after ${completionTimeoutS} sec`,
          ctx,
        );
        m.abortedByMonitor = true;
        await this.virsh(["domjobabort", m.cast.domain]);
      }

      const percent = total > 0 ? Math.round((remaining * 100) / total) : 0;
      const progress = mitaka
        ? `Migration running for ${Math.trunc(elapsedS)} secs, memory ${percent}% remaining; (bytes processed=${processed}, remaining=${remaining}, total=${total})`
        : `Migration running for ${Math.trunc(elapsedS)} secs, memory ${percent}% remaining (bytes processed=${processed}, remaining=${remaining}, total=${total}); disk 0% remaining (bytes processed=0, remaining=0, total=0).`;
      this.log(progressPolls % PROGRESS_LOG_EVERY_POLLS === 0 ? "INFO" : "DEBUG", driver, progress, ctx);
      progressPolls++;
      await this.report(m);
    }
    await exited;
    clearTimeout(hardLimit);

    if (exitCode === 0) {
      m.report.memoryRemainingBytes = 0;
      m.report.memoryProcessedBytes = Math.max(m.report.memoryProcessedBytes, m.report.memoryTotalBytes);
      this.log("INFO", driver, "Migration operation has completed", ctx);
      m.report.status = "post-migrating";
      await this.report(m);
      await new Promise((r) => setTimeout(r, POST_MIGRATION_MS));
      this.log(
        "INFO",
        "nova.compute.manager",
        `Migrating instance to ${m.cast.dest} finished successfully.`,
        ctx,
      );
      m.report.status = "completed";
    } else {
      const message = libvirtMessage(stderr);
      this.log("ERROR", driver, `Live Migration failure: ${message}`, ctx);
      if (m.cancelRequested && !m.abortedByMonitor) {
        this.log("WARNING", driver, "Migration operation was cancelled", ctx);
        m.report.status = "cancelled";
      } else {
        this.log("ERROR", driver, "Migration operation has aborted", ctx);
        m.report.status = "error";
      }
      m.report.fault = message;
    }
    await this.report(m);
    // Finished migrations stay in heartbeats for a while so a missed report is repaired.
    setTimeout(() => this.migrations.delete(m.cast.migrationId), 60_000).unref();
  }

  private async abort(migrationId: number): Promise<{ aborted: boolean }> {
    const m = this.migrations.get(migrationId);
    if (m === undefined || !["preparing", "running"].includes(m.report.status)) return { aborted: false };
    m.cancelRequested = true;
    const result = await this.virsh(["domjobabort", m.cast.domain]);
    return { aborted: result.code === 0 };
  }

  /** Mitaka's force-complete pauses the guest so the last pass can finish. */
  private async forceComplete(migrationId: number): Promise<{ paused: boolean }> {
    const m = this.migrations.get(migrationId);
    if (m === undefined || m.report.status !== "running") return { paused: false };
    this.log("INFO", "nova.compute.manager", "Pausing instance to force live migration to complete", {
      requestId: m.cast.requestId,
      instance: m.cast.instanceUuid,
    });
    const result = await this.virsh(["suspend", m.cast.domain]);
    return { paused: result.code === 0 };
  }

  private async hardReboot(domain: string, instanceUuid: string): Promise<{ ok: boolean; error?: string }> {
    this.log("INFO", "nova.compute.manager", "Rebooting instance", { instance: instanceUuid });
    await this.virsh(["destroy", domain]);
    const started = await this.virsh(["start", domain]);
    if (started.code !== 0) {
      const error = libvirtMessage(started.stderr);
      this.log("ERROR", "nova.compute.manager", `Cannot reboot instance: ${error}`, {
        instance: instanceUuid,
      });
      return { ok: false, error };
    }
    this.log("INFO", "nova.virt.libvirt.driver", "Instance rebooted successfully.", {
      instance: instanceUuid,
    });
    return { ok: true };
  }
}

function bytesField(value: string | undefined): number | undefined {
  return parseDomJobInfo(value === undefined ? "" : `Data remaining: ${value}`).dataRemainingBytes;
}
