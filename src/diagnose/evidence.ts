/**
 * Evidence for a diagnosis, gathered read-only from Nova and over SSH: the server, compute
 * services, hypervisors, and for each involved host its release, nova-compute's config files and
 * effective live-migration settings, the host CPU, systemd's view of nova-compute and the tail of
 * its log. Hosts are read in parallel and every command has a timeout; a piece that cannot be read
 * becomes a {@link GatherProblem} (turned into a warning by the rules), never an exception.
 */
import { DEFAULT_CPU_MODEL } from "../fixes/nova-conf-plan";
import type { HostCommand } from "../hosts/catalogue";
import { HostError } from "../hosts/errors";
import { DEFAULT_NOVA_COMPUTE_LOG_PATH, DEFAULT_NOVA_CONF_PATHS, type HostEntry } from "../hosts/inventory";
import type { HostCommandResult, HostsPort } from "../hosts/port";
import { extraFlagFeatures } from "../nova-conf/cpu-flags";
import { type ConfigFile, effectiveSettings, type LiveMigrationSettings } from "../nova-conf/effective";
import { NovaConfError } from "../nova-conf/errors";
import { type ReleaseInfo, releaseByName, releaseFromVersion } from "../nova-conf/releases";
import { cpuComparison, IN_PROGRESS_LIVE_MIGRATION_STATUSES, POST_COPY_STATUS } from "../nova-facts";
import type { PlacementAnswer } from "../openstack/placement";
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
  hostModelCpuXml,
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
  /**
   * The host-model CPU of `virsh domcapabilities`: what the hypervisor can give a guest, which nova
   * 2023.1+ compares against (compareHypervisorCPU). Read only for hosts of those releases.
   */
  hypervisorCpu: { xml: string; model: string | null } | null;
  /** Size from `virsh capabilities` (for capacity when Nova no longer reports it, 2.88+). */
  size: { memoryMb: number; cpus: number } | null;
  /** Servers Nova places on the host; null when the Nova port cannot list them. */
  servers: NovaServer[] | null;
  /**
   * Placement's inventories and usages of the host's resource provider (read for a named
   * destination); `no-placement` on a cloud without Placement; null when it could not be read.
   */
  placement?: PlacementAnswer | null;
  log: { path: string; text: string } | null;
  problems: GatherProblem[];
}

/** The virsh command that asks libvirt what a host's nova-compute asks it: compareCPU or compareHypervisorCPU. */
export type CpuCompareCommand = "cpu-compare" | "hypervisor-cpu-compare";

export interface CpuComparison {
  /** Whose CPU: the source host's own, or the custom model its nova.conf gives guests. */
  subject: "host-cpu" | "custom-model";
  model: string | null;
  from: string;
  on: string;
  /** How it was asked: the comparison the release of `on` makes (src/nova-facts cpuComparison). */
  command: CpuCompareCommand;
  /** cpu_model_extra_flags that went with a custom model. */
  extraFlags: string[];
  verdict: CpuCompareVerdict;
}

/** A CPU model checked on every host before it is offered, each host asked its own release's way. */
export interface ModelCheck {
  model: string;
  /** The hosts' cpu_model_extra_flags, checked together with the model (nova applies them on top). */
  extraFlags: string[];
  acceptedBy: string[];
  refusedBy: { host: string; text: string }[];
  /** Hosts that could not be asked (a problem says why). */
  unknown: string[];
}

export interface FleetCpu {
  /** Every inventory host, in inventory order. */
  hosts: string[];
  /** For each host whose CPU is not runnable on some other host: those hosts and libvirt's reason. */
  notRunnableOn: Record<string, { on: string; text: string }[]>;
  /** Hosts whose nova-compute does not compare CPUs at all (virt_type qemu, skip_cpu_compare_on_dest), and why. */
  notCompared: { host: string; why: string }[];
  /**
   * The common model of the comparing hosts: `virsh cpu-baseline` of their host CPUs, or where a
   * host compares the 2023.1+ way, `virsh hypervisor-cpu-baseline` on such a host (of the
   * host-model CPUs of those hosts and the host CPUs of the others).
   */
  baseline: {
    model: string;
    xml: string;
    ranOn: string;
    command: "cpu-baseline" | "hypervisor-cpu-baseline";
  } | null;
  /** The baseline model and kvm64, each checked on every comparing host. */
  checks: ModelCheck[];
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
  /** Destinations whose nova-compute does not compare the guest's CPU (and so cannot refuse it), and why. */
  cpuNotCompared: { on: string; why: string }[];
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

// Nova's in-progress live-migration statuses, plus the ones a migration passes before them.
const IN_PROGRESS = new Set<string>([
  ...IN_PROGRESS_LIVE_MIGRATION_STATUSES,
  POST_COPY_STATUS,
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
      hypervisorCpu: null,
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
    if (ev.release && cpuComparison(ev.release.info).api === "compareHypervisorCPU") {
      await guard("domcapabilities", async () => {
        const out = await this.run(name, { kind: "virsh-domcapabilities" });
        const xml = hostModelCpuXml(out.stdout);
        if (xml === null) {
          throw Object.assign(new Error(`virsh domcapabilities on ${name} offers no host-model CPU`), {
            code: "LIBVIRT_NO_HOST_MODEL",
          });
        }
        ev.hypervisorCpu = { xml, model: cpuModelOf(xml) };
      });
    }
    return ev;
  }

  /**
   * Asks `on` whether it runs `from`'s CPU (its host CPU, or the custom model its nova.conf gives
   * guests, with its cpu_model_extra_flags), the way `on`'s release asks libvirt.
   */
  async compare(
    from: HostEvidence,
    on: HostEvidence,
    subject: CpuComparison["subject"],
    model: string | null,
  ): Promise<CpuComparison | GatherProblem> {
    const extraFlags = subject === "custom-model" ? (from.settings?.cpuModelExtraFlags ?? []) : [];
    const xml =
      subject === "custom-model"
        ? customModelXml(model!, from.release ? extraFlagFeatures(from.release.info, extraFlags) : [])
        : from.cpu!.xml;
    return this.compareXml(xml, on, { subject, model, from: from.name, extraFlags });
  }

  async compareXml(
    xml: string,
    on: HostEvidence,
    what: Pick<CpuComparison, "subject" | "model" | "from" | "extraFlags">,
  ): Promise<CpuComparison | GatherProblem> {
    const command = compareCommandOf(on);
    try {
      const out = await this.run(
        on.name,
        command === "hypervisor-cpu-compare"
          ? { kind: "virsh-hypervisor-cpu-compare", cpuXml: xml }
          : { kind: "virsh-cpu-compare", cpuXml: xml },
        true,
      );
      return { ...what, on: on.name, command, verdict: readCpuCompare(out) };
    } catch (err) {
      return problemOf(command, err, on.name);
    }
  }
}

/** The comparison a host's nova-compute makes: compareCPU up to Zed, compareHypervisorCPU from 2023.1. */
export function compareCommandOf(h: HostEvidence): CpuCompareCommand {
  return h.release ? cpuComparison(h.release.info).virshCommand : "cpu-compare";
}

/**
 * Why a host's nova-compute, as a live-migration destination, does not compare the guest's CPU
 * (src/nova-facts destinationComparesCpu): null when it does, or when its settings are unknown.
 */
export function cpuNotComparedWhy(h: HostEvidence): string | null {
  const s = h.settings;
  if (!s || s.comparesCpuAsDestination) return null;
  if (s.skipCpuCompareOnDest && cpuComparison(s.release).skipOnDestOption !== null) {
    return `[workarounds] skip_cpu_compare_on_dest = true on ${h.name}: its pre-check accepts any guest CPU`;
  }
  return `virt_type = ${s.virtType} on ${h.name}: nova compares CPUs only for ${cpuComparison(s.release).comparedForVirtTypes.join(" and ")} guests (QEMU's TCG emulates the CPU it gives a guest), so ${h.name} accepts any guest CPU`;
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
 * Gathers the evidence for a VM (optionally towards a destination) or for a host. The source's CPU
 * is checked the way each destination's nova-compute checks it (compareCPU up to Zed,
 * compareHypervisorCPU from 2023.1, not at all where it does not compare). When the named
 * destination refuses it, every inventory host is read as well (release, config, CPU, servers),
 * the distinct host CPUs are compared pairwise and a common model is worked out and checked on
 * every host: the CPU model fix and the VM restarts need all of that.
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
    cpuNotCompared: [],
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
  const placementOf = deps.nova.placementCapacity?.bind(deps.nova);
  if (target.kind === "vm" && ev.destination && ev.hosts[ev.destination] && placementOf) {
    // The scheduler counts the destination from Placement where the cloud has one: read it as is.
    const dest = ev.hosts[ev.destination]!;
    const name = dest.hypervisor?.hostname || dest.name;
    try {
      dest.placement = await placementOf(name);
    } catch (err) {
      dest.placement = null;
      dest.problems.push(problemOf("placement", err, dest.name));
    }
  }

  const collect = (results: (CpuComparison | GatherProblem)[]) => {
    for (const r of results) {
      if ("verdict" in r) ev.cpuComparisons.push(r);
      else problems.push(r);
    }
  };
  if (target.kind === "vm" && ev.source && ev.destination === null && ev.hosts[ev.source]?.cpu) {
    // No destination: the scheduler may pick any host, so check the source's CPU on each of them,
    // each the way its nova-compute would (its release, its virt_type).
    const src = ev.hosts[ev.source]!;
    const others = deps.inventory.map((e) => e.name).filter((n) => n !== ev.source);
    const hosts = await mapLimit(others, FLEET_CONCURRENCY, (n) =>
      g.host(n, novaView, { log: false, servers: false }),
    );
    for (const h of hosts) ev.hosts[h.name] ??= h;
    const judges = hosts.filter((h) => {
      const why = cpuNotComparedWhy(h);
      if (why !== null) ev.cpuNotCompared.push({ on: h.name, why });
      return why === null;
    });
    collect(
      await mapLimit(judges, FLEET_CONCURRENCY, (on) => g.compare(src, on, "host-cpu", src.cpu!.model)),
    );
  }
  if (target.kind === "vm" && ev.source && ev.destination && ev.source !== ev.destination) {
    const src = ev.hosts[ev.source]!;
    const dest = ev.hosts[ev.destination]!;
    const why = cpuNotComparedWhy(dest);
    if (why !== null) {
      ev.cpuNotCompared.push({ on: dest.name, why });
    } else if (src.cpu && g.inInventory(ev.destination)) {
      const checks: Promise<CpuComparison | GatherProblem>[] = [
        g.compare(src, dest, "host-cpu", src.cpu.model),
      ];
      const s = src.settings;
      // A guest started under cpu_mode = custom carries the configured model, not the host's CPU.
      if (s && s.cpuMode === "custom" && s.cpuModels[0]) {
        checks.push(g.compare(src, dest, "custom-model", s.cpuModels[0]));
      }
      collect(await Promise.all(checks));
    }
    const hostVerdict = ev.cpuComparisons.find((c) => c.subject === "host-cpu");
    if (hostVerdict?.verdict.result === "incompatible") {
      ev.fleet = await gatherFleet(g, ev, novaView);
    }
  }
  return ev;
}

/** The model migbot falls back to: the lowest common x86-64 model (src/fixes). */
const FALLBACK_MODEL = DEFAULT_CPU_MODEL;

/** Reads every inventory host and works out which CPUs run where, a common model, and where each model runs. */
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

  const fleet: FleetCpu = { hosts: names, notRunnableOn: {}, notCompared: [], baseline: null, checks: [] };
  const withCpu = names.map((n) => ev.hosts[n]!).filter((h) => h.cpu !== null);
  // Only hosts whose nova-compute compares CPUs can refuse a guest; the others are said to accept any.
  const judges = withCpu.filter((h) => {
    const why = cpuNotComparedWhy(h);
    if (why !== null) fleet.notCompared.push({ host: h.name, why });
    return why === null;
  });
  // Hosts with byte-identical CPU elements behave the same: compare one representative of each,
  // as a source (its host CPU) and as a judge (its CPU, and how its release compares).
  const sources = groupBy(withCpu, (h) => normaliseCpu(h.cpu!.xml));
  const judgeGroups = groupBy(judges, (h) =>
    [normaliseCpu(h.cpu!.xml), compareCommandOf(h), normaliseCpu(h.hypervisorCpu?.xml ?? "")].join("|"),
  );
  if (sources.length <= MAX_DISTINCT_CPUS_COMPARED && judgeGroups.length <= MAX_DISTINCT_CPUS_COMPARED) {
    const pairs: [HostEvidence[], HostEvidence[]][] = [];
    for (const a of sources) {
      for (const b of judgeGroups) {
        // compareCPU of a host's own CPU says identical; compareHypervisorCPU may not, so ask it.
        const same = normaliseCpu(a[0]!.cpu!.xml) === normaliseCpu(b[0]!.cpu!.xml);
        if (same && compareCommandOf(b[0]!) === "cpu-compare") continue;
        pairs.push([a, b]);
      }
    }
    const results = await mapLimit(pairs, FLEET_CONCURRENCY, async ([a, b]) => ({
      a,
      b,
      r: await g.compare(a[0]!, b[0]!, "host-cpu", a[0]!.cpu!.model),
    }));
    for (const { a, b, r } of results) {
      if (!("verdict" in r)) {
        ev.problems.push(r);
        continue;
      }
      if (r.verdict.result !== "incompatible") continue;
      for (const from of a) {
        const list = fleet.notRunnableOn[from.name] ?? [];
        for (const on of b) if (on !== from) list.push({ on: on.name, text: r.verdict.text });
        if (list.length > 0) fleet.notRunnableOn[from.name] = list;
      }
    }
  } else {
    ev.problems.push({
      piece: "cpu-matrix",
      code: "TOO_MANY_CPUS",
      message: `${Math.max(sources.length, judgeGroups.length)} distinct host CPUs (more than ${MAX_DISTINCT_CPUS_COMPARED}): the pairwise CPU check was skipped, so only the VM's own host is known to need restarts.`,
    });
  }

  if (judges.length > 0) fleet.baseline = await baselineOf(g, ev, judges, judgeGroups);
  // The extra flags every host adds to the model (nova applies each host's own on top of it).
  const extraFlags = [...new Set(judges.flatMap((h) => h.settings?.cpuModelExtraFlags ?? []))];
  const models = [...new Set([fleet.baseline?.model, FALLBACK_MODEL].filter((m): m is string => !!m))];
  for (const model of models) fleet.checks.push(await checkModel(g, ev, judges, model, extraFlags));
  return fleet;
}

/**
 * The hosts' common model: `virsh hypervisor-cpu-baseline` on a host that compares the 2023.1+
 * way (the destination when it does), of its kind's host-model CPUs and the other hosts' CPUs;
 * else `virsh cpu-baseline` of the host CPUs.
 */
async function baselineOf(
  g: Gatherer,
  ev: Evidence,
  judges: HostEvidence[],
  judgeGroups: HostEvidence[][],
): Promise<FleetCpu["baseline"]> {
  const hypervisorJudges = judges.filter((h) => compareCommandOf(h) === "hypervisor-cpu-compare");
  const dest = ev.destination ? ev.hosts[ev.destination] : undefined;
  const pick = (pool: HostEvidence[]) => (dest && pool.includes(dest) ? dest : pool[0]!);
  const hypervisor = hypervisorJudges.length > 0;
  const ranOn = pick(hypervisor ? hypervisorJudges : judges);
  const cpus = [
    ...new Set(
      judgeGroups.map((group) => {
        const h = group[0]!;
        return compareCommandOf(h) === "hypervisor-cpu-compare" && h.hypervisorCpu
          ? h.hypervisorCpu.xml
          : h.cpu!.xml;
      }),
    ),
  ].join("\n");
  const command = hypervisor ? "hypervisor-cpu-baseline" : "cpu-baseline";
  try {
    const out = await g.run(
      ranOn.name,
      hypervisor
        ? { kind: "virsh-hypervisor-cpu-baseline", cpusXml: cpus }
        : { kind: "virsh-cpu-baseline", cpusXml: cpus },
    );
    const model = cpuModelOf(out.stdout);
    if (model) return { model, xml: out.stdout.trim(), ranOn: ranOn.name, command };
    ev.problems.push({
      piece: command,
      host: ranOn.name,
      code: "LIBVIRT_NO_MODEL",
      message: `virsh ${command} on ${ranOn.name} named no CPU model`,
    });
  } catch (err) {
    ev.problems.push(problemOf(command, err, ranOn.name));
  }
  return null;
}

/** Proof, not trust: `model` (with the hosts' extra flags) must start on every comparing host, asked each host's way. */
async function checkModel(
  g: Gatherer,
  ev: Evidence,
  judges: HostEvidence[],
  model: string,
  extraFlags: string[],
): Promise<ModelCheck> {
  const check: ModelCheck = { model, extraFlags, acceptedBy: [], refusedBy: [], unknown: [] };
  const results = await mapLimit(judges, FLEET_CONCURRENCY, (h) =>
    g.compareXml(customModelXml(model, h.release ? extraFlagFeatures(h.release.info, extraFlags) : []), h, {
      subject: "custom-model",
      model,
      from: h.name,
      extraFlags,
    }),
  );
  for (const [i, r] of results.entries()) {
    const host = judges[i]!.name;
    if (!("verdict" in r)) {
      ev.problems.push(r);
      check.unknown.push(host);
    } else if (r.verdict.result === "incompatible" || r.verdict.result === "error") {
      check.refusedBy.push({ host, text: r.verdict.text });
    } else {
      check.acceptedBy.push(host);
    }
  }
  return check;
}

function groupBy<T>(items: T[], key: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return [...groups.values()];
}

function normaliseCpu(xml: string): string {
  return xml.replace(/\s+/g, " ").trim();
}
