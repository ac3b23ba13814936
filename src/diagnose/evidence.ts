/**
 * Evidence for a diagnosis, gathered read-only from Nova and over SSH: the server, compute
 * services, hypervisors, and for each involved host its release, nova-compute's config files and
 * effective live-migration settings, the host CPU, systemd's view of nova-compute and the tail of
 * its log. Hosts are read in parallel and every command has a timeout; a piece that cannot be read
 * becomes a {@link GatherProblem} (turned into a warning by the rules), never an exception.
 */
import type { HostCommand } from "../hosts/catalogue";
import { HostError } from "../hosts/errors";
import { DEFAULT_NOVA_COMPUTE_LOG_PATH, DEFAULT_NOVA_CONF_PATHS, type HostEntry } from "../hosts/inventory";
import type { HostCommandResult, HostsPort } from "../hosts/port";
import { type ConfigFile, effectiveSettings, type LiveMigrationSettings } from "../nova-conf/effective";
import { NovaConfError } from "../nova-conf/errors";
import { type ReleaseInfo, releaseByName, releaseFromVersion } from "../nova-conf/releases";
import type {
  NovaComputeService,
  NovaHypervisor,
  NovaMigration,
  NovaPort,
  NovaServer,
} from "../openstack/port";
import {
  type CpuCompareVerdict,
  cpuModelOf,
  customModelXml,
  hostCpuXml,
  hostSizeOf,
  readCpuCompare,
} from "./libvirt-cpu";

/** One SSH command during a diagnosis may take this long before it counts as unreadable. */
export const DIAGNOSE_COMMAND_TIMEOUT_MS = 15_000;
/** Lines of each nova-compute log read for recent live-migration failures. */
export const DIAGNOSE_LOG_LINES = 2000;
/** Hosts read at the same time when the whole inventory is needed (CPU model fix). */
export const FLEET_CONCURRENCY = 8;
/** Distinct host CPUs compared pairwise at most; beyond this the matrix is skipped (N² commands). */
export const MAX_DISTINCT_CPUS_COMPARED = 12;

/** A piece of evidence that could not be read, and why. */
export interface GatherProblem {
  /** What was being read: "server", "services", "config", "cpu", "log", … */
  piece: string;
  host?: string;
  /** A coded error's code (HOST_TIMEOUT, NOVA_CONF_PARSE, …), or UNEXPECTED. */
  code: string;
  message: string;
}

export interface HostEvidence {
  name: string;
  inInventory: boolean;
  /** Nova's view of nova-compute there; null when Nova lists no such service. */
  service: NovaComputeService | null;
  hypervisor: NovaHypervisor | null;
  /** `systemctl is-active` of the nova-compute unit. */
  systemd: string | null;
  release: { info: ReleaseInfo; from: "inventory" | "nova-compute --version" } | null;
  /** nova-compute's config files as read, in its reading order; `missing` did not exist. */
  config: { files: ConfigFile[]; missing: string[] } | null;
  settings: LiveMigrationSettings | null;
  /** The `<host><cpu>` element of `virsh capabilities`. */
  cpu: { xml: string; model: string | null } | null;
  /** Size from `virsh capabilities` (for capacity when Nova no longer reports it, 2.88+). */
  size: { memoryMb: number; cpus: number } | null;
  /** Servers Nova places on the host; null when the Nova port cannot list them. */
  servers: NovaServer[] | null;
  log: { path: string; text: string } | null;
  problems: GatherProblem[];
}

export interface CpuComparison {
  /** Whose CPU: the source host's own, or the custom model its nova.conf gives guests. */
  subject: "host-cpu" | "custom-model";
  model: string | null;
  from: string;
  on: string;
  verdict: CpuCompareVerdict;
}

export interface FleetCpu {
  /** Every inventory host, in inventory order. */
  hosts: string[];
  /** For each host whose CPU is not runnable on some other host: those hosts and libvirt's reason. */
  notRunnableOn: Record<string, { on: string; text: string }[]>;
  /** `virsh cpu-baseline` of all host CPUs, and where it was computed. */
  baseline: { model: string; xml: string; ranOn: string } | null;
  /** The baseline model checked with cpu-compare on every host; a host listed here refused it. */
  baselineRefusedBy: { host: string; text: string }[];
}

export interface Evidence {
  kind: "vm" | "host";
  target: string;
  server: NovaServer | null;
  source: string | null;
  /** The requested destination (null: the scheduler chooses). */
  destination: string | null;
  /** Source, destination, or the host diagnosed; plus every inventory host when the fleet was read. */
  hosts: Record<string, HostEvidence>;
  cpuComparisons: CpuComparison[];
  fleet: FleetCpu | null;
  /** Live migrations Nova reports in progress (any VM); null when that could not be read. */
  migrationsInFlight: (NovaMigration & { serverId?: string })[] | null;
  problems: GatherProblem[];
  gatheredAt: number;
}

export interface EvidenceDeps {
  nova: NovaPort;
  hosts: HostsPort;
  /** The host inventory: releases, config paths, log paths, and which hosts a VM may land on. */
  inventory: readonly HostEntry[];
  /** @defaultValue {@link DIAGNOSE_COMMAND_TIMEOUT_MS} */
  commandTimeoutMs?: number;
  /** @defaultValue {@link DIAGNOSE_LOG_LINES} */
  logLines?: number;
  now?: () => number;
}

export type DiagnoseTarget =
  | { kind: "vm"; server: NovaServer; destination: string | null }
  | { kind: "host"; host: string };

const IN_PROGRESS = new Set([
  "queued",
  "preparing",
  "running",
  "post-migrating",
  "accepted",
  "pre-migrating",
]);

/** Turns anything thrown into a coded problem; never carries more than the error's own message. */
export function problemOf(piece: string, err: unknown, host?: string): GatherProblem {
  const code =
    err instanceof HostError || err instanceof NovaConfError
      ? err.code
      : typeof (err as { code?: unknown })?.code === "string"
        ? (err as { code: string }).code
        : "UNEXPECTED";
  const message = err instanceof Error ? err.message : String(err);
  return { piece, code, message, ...(host !== undefined && { host }) };
}

/** A problem as one sentence for a finding's evidence or a fix's blockers. */
export function describeProblem(p: GatherProblem): string {
  return `Could not read ${p.piece}${p.host ? ` on ${p.host}` : ""} [${p.code}]: ${p.message}`;
}

/** Runs `fn` on every item with at most `limit` running at once. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

class Gatherer {
  readonly timeoutMs: number;
  constructor(readonly deps: EvidenceDeps) {
    this.timeoutMs = deps.commandTimeoutMs ?? DIAGNOSE_COMMAND_TIMEOUT_MS;
  }

  entry(host: string): HostEntry | undefined {
    return this.deps.inventory.find((e) => e.name === host);
  }

  inInventory(host: string): boolean {
    return this.entry(host) !== undefined || this.deps.hosts.has?.(host) === true;
  }

  run(host: string, command: HostCommand, allowNonZeroExit = false): Promise<HostCommandResult> {
    return this.deps.hosts.run(host, command, { timeoutMs: this.timeoutMs, allowNonZeroExit });
  }

  /** Reads one host: everything in parallel, each piece on its own. */
  async host(
    name: string,
    nova: { services: NovaComputeService[] | null; hypervisors: NovaHypervisor[] | null },
    opts: { log: boolean; servers: boolean },
  ): Promise<HostEvidence> {
    const problems: GatherProblem[] = [];
    const ev: HostEvidence = {
      name,
      inInventory: this.inInventory(name),
      service: nova.services?.find((s) => s.host === name) ?? null,
      hypervisor: nova.hypervisors?.find((h) => h.serviceHost === name || h.hostname === name) ?? null,
      systemd: null,
      release: null,
      config: null,
      settings: null,
      cpu: null,
      size: null,
      servers: null,
      log: null,
      problems,
    };
    const serversTask =
      opts.servers && this.deps.nova.listServers
        ? this.deps.nova
            .listServers({ host: name })
            .then((s) => {
              ev.servers = s;
            })
            .catch((err) => {
              problems.push(problemOf("servers", err, name));
            })
        : Promise.resolve();
    if (!ev.inInventory) {
      await serversTask;
      return ev;
    }
    const entry = this.entry(name);
    const service = entry?.novaComputeService ?? "nova-compute";
    const guard = async (piece: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        problems.push(problemOf(piece, err, name));
      }
    };
    const releaseTask = guard("release", async () => {
      if (entry?.release) {
        ev.release = { info: releaseByName(entry.release), from: "inventory" };
        return;
      }
      const out = await this.run(name, { kind: "nova-compute-version" });
      // Python 2's argparse (Mitaka) prints --version on stderr.
      ev.release = {
        info: releaseFromVersion(out.stdout.trim() || out.stderr.trim()),
        from: "nova-compute --version",
      };
    });
    const configTask = guard("config", async () => {
      const paths = entry?.novaConfPaths ?? DEFAULT_NOVA_CONF_PATHS;
      const files: ConfigFile[] = [];
      const missing: string[] = [];
      const reads = await Promise.all(
        paths.map(async (path) => ({ path, out: await this.run(name, { kind: "read-file", path }, true) })),
      );
      for (const { path, out } of reads) {
        if (out.exitCode === 0) files.push({ path, text: out.stdout });
        else if (/No such file or directory/.test(out.stderr)) missing.push(path);
        else
          throw Object.assign(
            new Error(
              `reading ${path} on ${name} failed (exit ${out.exitCode}): ${out.stderr.trim().slice(0, 300)}`,
            ),
            { code: "HOST_COMMAND_FAILED" },
          );
      }
      ev.config = { files, missing };
    });
    const tasks = [
      serversTask,
      releaseTask,
      configTask,
      guard("systemd", async () => {
        const out = await this.run(name, { kind: "systemctl-is-active", service }, true);
        ev.systemd = out.stdout.trim() || `unknown (exit ${out.exitCode})`;
      }),
      guard("cpu", async () => {
        const out = await this.run(name, { kind: "virsh-capabilities" });
        const xml = hostCpuXml(out.stdout);
        if (xml === null) {
          throw Object.assign(new Error(`virsh capabilities on ${name} shows no <host><cpu> element`), {
            code: "LIBVIRT_NO_HOST_CPU",
          });
        }
        ev.cpu = { xml, model: cpuModelOf(xml) };
        ev.size = hostSizeOf(out.stdout);
      }),
    ];
    if (opts.log) {
      tasks.push(
        guard("log", async () => {
          const path = entry?.novaComputeLogPath ?? DEFAULT_NOVA_COMPUTE_LOG_PATH;
          const lines = this.deps.logLines ?? DIAGNOSE_LOG_LINES;
          const out = await this.run(name, { kind: "tail-log", path, lines }, true);
          if (out.exitCode !== 0) {
            throw Object.assign(
              new Error(
                `tail of ${path} on ${name} failed (exit ${out.exitCode}): ${out.stderr.trim().slice(0, 300)}`,
              ),
              { code: "HOST_COMMAND_FAILED" },
            );
          }
          ev.log = { path, text: out.stdout };
        }),
      );
    }
    await Promise.all(tasks);
    if (ev.release && ev.config) {
      try {
        ev.settings = effectiveSettings(ev.config.files, ev.release.info);
      } catch (err) {
        problems.push(problemOf("settings", err, name));
      }
    }
    return ev;
  }

  async compare(
    from: HostEvidence,
    on: string,
    subject: CpuComparison["subject"],
    model: string | null,
  ): Promise<CpuComparison | GatherProblem> {
    const xml = subject === "custom-model" ? customModelXml(model!) : from.cpu!.xml;
    try {
      const out = await this.run(on, { kind: "virsh-cpu-compare", cpuXml: xml }, true);
      return { subject, model, from: from.name, on, verdict: readCpuCompare(out) };
    } catch (err) {
      return problemOf("cpu-compare", err, on);
    }
  }
}

async function novaPiece<T>(
  piece: string,
  problems: GatherProblem[],
  fn: () => Promise<T>,
): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    problems.push(problemOf(piece, err));
    return null;
  }
}

/**
 * Gathers the evidence for a VM (optionally towards a destination) or for a host. When the
 * source's CPU is not runnable on the destination, every inventory host is read as well (release,
 * config, CPU, servers), the distinct host CPUs are compared pairwise and their common baseline
 * computed: the CPU model fix and the VM restarts need all of that.
 */
export async function gatherEvidence(target: DiagnoseTarget, deps: EvidenceDeps): Promise<Evidence> {
  const g = new Gatherer(deps);
  const now = deps.now ?? Date.now;
  const problems: GatherProblem[] = [];
  const [services, hypervisors, migrations] = await Promise.all([
    novaPiece("services", problems, () => deps.nova.computeServices()),
    novaPiece("hypervisors", problems, () => deps.nova.hypervisors()),
    novaPiece("migrations", problems, () => deps.nova.listMigrations({ migrationType: "live-migration" })),
  ]);
  const novaView = { services, hypervisors };
  const ev: Evidence = {
    kind: target.kind,
    target: target.kind === "vm" ? target.server.name : target.host,
    server: target.kind === "vm" ? target.server : null,
    source: target.kind === "vm" ? target.server.host : target.host,
    destination: target.kind === "vm" ? target.destination : null,
    hosts: {},
    cpuComparisons: [],
    fleet: null,
    migrationsInFlight: migrations ? migrations.filter((m) => IN_PROGRESS.has(m.status)) : null,
    problems,
    gatheredAt: now(),
  };
  const involved = [ev.source, ev.destination].filter((h): h is string => h !== null);
  const read = await Promise.all(
    [...new Set(involved)].map((h) =>
      g.host(h, novaView, { log: true, servers: target.kind === "vm" && h === ev.destination }),
    ),
  );
  for (const h of read) ev.hosts[h.name] = h;

  if (target.kind === "vm" && ev.source && ev.destination === null && ev.hosts[ev.source]?.cpu) {
    // No destination: the scheduler may pick any host, so check the source's CPU on each of them.
    const src = ev.hosts[ev.source]!;
    const others = deps.inventory.map((e) => e.name).filter((n) => n !== ev.source);
    const results = await mapLimit(others, FLEET_CONCURRENCY, (on) =>
      g.compare(src, on, "host-cpu", src.cpu!.model),
    );
    for (const r of results) {
      if ("verdict" in r) ev.cpuComparisons.push(r);
      else problems.push(r);
    }
  }
  if (target.kind === "vm" && ev.source && ev.destination && ev.source !== ev.destination) {
    const src = ev.hosts[ev.source]!;
    if (src.cpu && g.inInventory(ev.destination)) {
      const checks: Promise<CpuComparison | GatherProblem>[] = [
        g.compare(src, ev.destination, "host-cpu", src.cpu.model),
      ];
      const s = src.settings;
      // A guest started under cpu_mode = custom carries the configured model, not the host's CPU.
      if (s && s.cpuMode === "custom" && s.cpuModels[0]) {
        checks.push(g.compare(src, ev.destination, "custom-model", s.cpuModels[0]));
      }
      for (const r of await Promise.all(checks)) {
        if ("verdict" in r) ev.cpuComparisons.push(r);
        else problems.push(r);
      }
    }
    const hostVerdict = ev.cpuComparisons.find((c) => c.subject === "host-cpu");
    if (hostVerdict?.verdict.result === "incompatible") {
      ev.fleet = await gatherFleet(g, ev, novaView);
    }
  }
  return ev;
}

/** Reads every inventory host and works out which CPUs run where, and their common baseline. */
async function gatherFleet(
  g: Gatherer,
  ev: Evidence,
  novaView: { services: NovaComputeService[] | null; hypervisors: NovaHypervisor[] | null },
): Promise<FleetCpu> {
  const names = g.deps.inventory.map((e) => e.name);
  const missing = names.filter((n) => !ev.hosts[n]);
  const read = await mapLimit(missing, FLEET_CONCURRENCY, (n) =>
    g.host(n, novaView, { log: false, servers: true }),
  );
  for (const h of read) ev.hosts[h.name] = h;
  // The involved hosts were read without their server lists where not needed; fetch those now.
  await Promise.all(
    names
      .map((n) => ev.hosts[n]!)
      .filter((h) => h.servers === null && g.deps.nova.listServers)
      .map(async (h) => {
        try {
          h.servers = await g.deps.nova.listServers!({ host: h.name });
        } catch (err) {
          h.problems.push(problemOf("servers", err, h.name));
        }
      }),
  );

  const fleet: FleetCpu = { hosts: names, notRunnableOn: {}, baseline: null, baselineRefusedBy: [] };
  const withCpu = names.map((n) => ev.hosts[n]!).filter((h) => h.cpu !== null);
  // Hosts with byte-identical CPU elements behave the same: compare one representative of each.
  const groups = new Map<string, HostEvidence[]>();
  for (const h of withCpu) {
    const key = normaliseCpu(h.cpu!.xml);
    groups.set(key, [...(groups.get(key) ?? []), h]);
  }
  const reps = [...groups.values()];
  if (reps.length <= MAX_DISTINCT_CPUS_COMPARED) {
    const pairs: [HostEvidence[], HostEvidence[]][] = [];
    for (const a of reps) for (const b of reps) if (a !== b) pairs.push([a, b]);
    const results = await mapLimit(pairs, FLEET_CONCURRENCY, async ([a, b]) => ({
      a,
      b,
      r: await g.compare(a[0]!, b[0]!.name, "host-cpu", a[0]!.cpu!.model),
    }));
    for (const { a, b, r } of results) {
      if (!("verdict" in r)) {
        ev.problems.push(r);
        continue;
      }
      if (r.verdict.result !== "incompatible") continue;
      for (const from of a) {
        const list = fleet.notRunnableOn[from.name] ?? [];
        for (const on of b) list.push({ on: on.name, text: r.verdict.text });
        fleet.notRunnableOn[from.name] = list;
      }
    }
  } else {
    ev.problems.push({
      piece: "cpu-matrix",
      code: "TOO_MANY_CPUS",
      message: `${reps.length} distinct host CPUs (more than ${MAX_DISTINCT_CPUS_COMPARED}): the pairwise CPU check was skipped, so only the VM's own host is known to need restarts.`,
    });
  }

  if (withCpu.length > 0) {
    const ranOn = ev.destination && ev.hosts[ev.destination]?.cpu ? ev.destination : withCpu[0]!.name;
    try {
      const out = await g.run(ranOn, {
        kind: "virsh-cpu-baseline",
        cpusXml: reps.map((r) => r[0]!.cpu!.xml).join("\n"),
      });
      const model = cpuModelOf(out.stdout);
      if (model) fleet.baseline = { model, xml: out.stdout.trim(), ranOn };
      else
        ev.problems.push({
          piece: "cpu-baseline",
          host: ranOn,
          code: "LIBVIRT_NO_MODEL",
          message: `virsh cpu-baseline on ${ranOn} named no CPU model`,
        });
    } catch (err) {
      ev.problems.push(problemOf("cpu-baseline", err, ranOn));
    }
  }
  if (fleet.baseline) {
    // Proof, not trust: the baseline model must start on every host, checked by libvirt there.
    const model = fleet.baseline.model;
    const checks = await mapLimit(withCpu, FLEET_CONCURRENCY, (h) =>
      g.compare(h, h.name, "custom-model", model),
    );
    for (const r of checks) {
      if (!("verdict" in r)) ev.problems.push(r);
      else if (r.verdict.result === "incompatible" || r.verdict.result === "error")
        fleet.baselineRefusedBy.push({ host: r.on, text: r.verdict.text });
    }
  }
  return fleet;
}

function normaliseCpu(xml: string): string {
  return xml.replace(/\s+/g, " ").trim();
}
