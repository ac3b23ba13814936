/**
 * The sandbox hosts' shell: answers one command of the host catalogue (`src/hosts/catalogue.ts`,
 * already parsed from its command line by the SSH server) as the real tool would on that host —
 * virsh (list, capabilities, domcapabilities, cpu-compare, cpu-baseline and their hypervisor-
 * variants, domjobinfo), the file commands with
 * coreutils' texts and permissions, systemctl for nova-compute, `nova-compute --version` and tail.
 */
import type { HostCommand } from "../hosts/catalogue";
import { libvirtMeasuresDirtyRate } from "../nova-facts/libvirt-dirtyrate";
import type { SandboxHost, SandboxVm } from "./compute-host";
import { POWER_STATE } from "./control-plane-base";
import {
  baselineCpuXml,
  type CpuDef,
  type CpuXmlError,
  compareCpu,
  hypervisorBaselineCpuXml,
  incompatibleText,
  parseCpuXml,
  UnknownCpuModelError,
} from "./cpu";
import {
  dirtyRateSecondsRefusal,
  formatDirtyRateCalcStarted,
  formatDomstatsDirtyRate,
  formatRouteGet,
  formatVirshVersion,
  nicSpeedMbpsForLink,
  SANDBOX_LIBVIRT_VERSION,
} from "./dirtyrate";
import { formatDomCapabilities } from "./domcapabilities";
import { jobStats, type SandboxMigration } from "./migrations";
import { isFinished } from "./precopy-model";
import { formatCapabilities, formatDomainList, formatDomJobInfo } from "./virsh-format";

/** What one host command printed and returned. */
export interface HostCommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Who runs the command: root, or another user with or without sudo. */
export interface HostCommandUser {
  user: string;
  sudo: boolean;
}

/** What the shell needs from the cloud beyond the host itself. */
export interface HostCommandsView {
  vms: ReadonlyMap<string, SandboxVm>;
  /** The newest migration of `vm` that involved the host as source or destination. */
  latestMigration(vm: SandboxVm, hostName: string): SandboxMigration | undefined;
  /** `systemctl restart nova-compute` on the host, with what it does to migrations under way. */
  restartNovaCompute(host: SandboxHost): void;
  /** A monotonic clock, seconds: dirty-rate measurement periods run on it. */
  nowS(): number;
  /** Every host by name (routes and NICs follow the links between them). */
  hosts: ReadonlyMap<string, SandboxHost>;
  /** Migration bandwidth between two hosts, MiB/s. */
  linkMiBps(a: string, b: string): number;
  /** Bandwidth of hosts with no explicit link, MiB/s (each host's eth0). */
  defaultLinkMiBps: number;
}

/** Sorts domains without an id (shut off) after the running ones, as `virsh list --all` does. */
const NO_DOMAIN_ID_LAST = 1e9;

/** Answers one catalogue command on a host, as the real tools would. */
export function runHostCommand(
  view: HostCommandsView,
  host: SandboxHost,
  cmd: HostCommand,
  ctx: HostCommandUser,
): HostCommandResult {
  const root = ctx.user === "root" || ctx.sudo;
  switch (cmd.kind) {
    case "virsh-domjobinfo":
      return domJobInfo(view, host, cmd.domain, cmd.completed === true);
    case "virsh-list":
      return ok(
        formatDomainList(
          [...view.vms.values()]
            .filter((v) => v.host === host.name)
            .sort((a, b) => (a.domainId ?? NO_DOMAIN_ID_LAST) - (b.domainId ?? NO_DOMAIN_ID_LAST))
            .map((v) => ({
              id: v.domainId,
              name: v.instanceName,
              state:
                v.domainId === null ? "shut off" : v.powerState === POWER_STATE.PAUSED ? "paused" : "running",
            })),
        ),
      );
    case "virsh-capabilities":
      return ok(
        formatCapabilities({
          uuid: host.uuid,
          cpu: host.cpu,
          memoryKiB: host.seed.memoryMb * 1024,
          cpus: host.seed.vcpus,
        }),
      );
    case "virsh-cpu-compare":
      return cpuCompare(host.cpu, cmd.cpuXml, CPU_COMPARE_TEXTS);
    case "virsh-cpu-baseline":
      try {
        const cpus = parseCpuXml(cmd.cpusXml);
        // cpu-baseline takes host CPUs only (captured: libvirt 9.0 refuses a guest <cpu mode=…>).
        if (cpus.some((c) => c.mode !== null))
          return virshError("error: unsupported configuration: Attribute mode is only allowed for guest CPU");
        return ok(baselineCpuXml(cpus));
      } catch (err) {
        return virshError(`error: ${(err as Error).message}`);
      }
    case "virsh-domcapabilities":
      return ok(formatDomCapabilities(host.hostModel));
    case "virsh-hypervisor-cpu-compare":
      return cpuCompare(host.hostModel, cmd.cpuXml, HYPERVISOR_CPU_COMPARE_TEXTS);
    case "virsh-hypervisor-cpu-baseline":
      try {
        return ok(hypervisorBaselineCpuXml(parseCpuXml(cmd.cpusXml), host.hostModel));
      } catch (err) {
        return virshError(`error: ${(err as Error).message}`);
      }
    case "virsh-version":
      return ok(formatVirshVersion(host.seed.libvirtVersion ?? SANDBOX_LIBVIRT_VERSION));
    case "virsh-domdirtyrate-calc":
    case "virsh-domstats-dirtyrate":
      return dirtyRate(view, host, cmd);
    case "ip-route-get":
      return routeGet(view, host, cmd.address);
    case "read-nic-speed":
      return nicSpeed(view, host, cmd.iface);
    case "read-file":
      return host.fs.cat(cmd.path);
    case "stat-file":
      return host.fs.stat(cmd.path);
    case "write-file":
      if (!root)
        return { stdout: "", stderr: `dd: failed to open '${cmd.path}': Permission denied\n`, exitCode: 1 };
      return host.fs.write(cmd.path, cmd.content);
    case "copy-file":
      if (!root)
        return {
          stdout: "",
          stderr: `cp: cannot create regular file '${cmd.to}': Permission denied\n`,
          exitCode: 1,
        };
      return host.fs.copyPreserving(cmd.from, cmd.to);
    case "rename-file":
      if (!root)
        return {
          stdout: "",
          stderr: `mv: cannot move '${cmd.from}' to '${cmd.to}': Permission denied\n`,
          exitCode: 1,
        };
      return host.fs.rename(cmd.from, cmd.to);
    case "remove-temp-file":
      return host.fs.remove(cmd.path);
    case "systemctl-is-active": {
      if (cmd.service !== "nova-compute")
        return {
          stdout: cmd.service === "libvirtd" ? "active\n" : "inactive\n",
          stderr: "",
          exitCode: cmd.service === "libvirtd" ? 0 : 3,
        };
      const unit = host.service.unit;
      return { stdout: `${unit}\n`, stderr: "", exitCode: unit === "active" ? 0 : 3 };
    }
    case "systemctl-restart":
      if (!root) {
        return {
          stdout: "",
          stderr:
            "Failed to restart nova-compute.service: Access denied\nSee system logs and 'systemctl status nova-compute.service' for details.\n",
          exitCode: 1,
        };
      }
      if (cmd.service === "openstack-nova-compute") {
        return {
          stdout: "",
          stderr:
            "Failed to restart openstack-nova-compute.service: Unit openstack-nova-compute.service not found.\n",
          exitCode: 5,
        };
      }
      if (cmd.service === "nova-compute") view.restartNovaCompute(host);
      return ok("");
    case "nova-compute-version":
      // Nova on Python 2 (Mitaka–Ocata only; src/nova-facts' release table): argparse prints --version on stderr.
      return host.release.python.length === 1 && host.release.python[0] === 2
        ? { stdout: "", stderr: `${host.seed.novaVersion}\n`, exitCode: 0 }
        : ok(`${host.seed.novaVersion}\n`);
    case "tail-log":
      return host.fs.tail(cmd.path, cmd.lines);
  }
}

interface CompareTexts {
  failed: string;
  identical: string;
  superset: string;
}

// virsh's words (libvirt 9.0 tools/virsh-host.c), as captured in fixtures/libvirt/virsh-outputs/ and
// data/libvirt/virsh-hypervisor-cpu-compare-and-baseline.libvirt-9.0.0.txt.
const CPU_COMPARE_TEXTS: CompareTexts = {
  failed: "error: Failed to compare host CPU with /dev/stdin",
  identical: "CPU described in /dev/stdin is identical to host CPU\n\n",
  superset: "Host CPU is a superset of CPU described in /dev/stdin\n\n",
};
const HYPERVISOR_CPU_COMPARE_TEXTS: CompareTexts = {
  failed: "error: Failed to compare hypervisor CPU with /dev/stdin",
  identical: "CPU described in /dev/stdin is identical to the CPU provided by hypervisor on the host\n\n",
  superset: "The CPU provided by hypervisor on the host is a superset of CPU described in /dev/stdin\n\n",
};

/** `virsh cpu-compare --error` against the host CPU, or `hypervisor-cpu-compare --error` against the host-model CPU. */
function cpuCompare(against: CpuDef, xml: string, texts: CompareTexts): HostCommandResult {
  const failed = texts.failed;
  let cpus: CpuDef[];
  try {
    cpus = parseCpuXml(xml);
  } catch (err) {
    return virshError(`${failed}\nerror: ${(err as CpuXmlError).message}`);
  }
  try {
    const verdict = compareCpu(against, cpus[0]!);
    if (verdict.result === "incompatible")
      return virshError(`${failed}\nerror: ${incompatibleText(verdict.reason)}`);
    return ok(verdict.result === "identical" ? texts.identical : texts.superset);
  } catch (err) {
    if (err instanceof UnknownCpuModelError) return virshError(`${failed}\nerror: ${err.message}`);
    throw err;
  }
}

/** `virsh domjobinfo [--completed]`: the running job on either side, or the one that ended. */
function domJobInfo(
  view: HostCommandsView,
  host: SandboxHost,
  domain: string,
  completed: boolean,
): HostCommandResult {
  const vm = [...view.vms.values()].find((v) => v.instanceName === domain || v.uuid === domain);
  const migration = vm ? view.latestMigration(vm, host.name) : undefined;
  const inbound =
    migration !== undefined &&
    migration.record.destCompute === host.name &&
    migration.record.status === "running" &&
    vm!.host !== host.name;
  if (!vm || (vm.host !== host.name && !inbound))
    return virshError(`error: failed to get domain '${domain}'`);
  if (completed) {
    const stats = migration?.completedJobs.get(host.name);
    return ok(formatDomJobInfo(stats ?? null));
  }
  if (migration?.record.status !== "running" || migration.job === null || isFinished(migration.job)) {
    return ok(formatDomJobInfo(null));
  }
  return ok(
    formatDomJobInfo(
      jobStats(migration.job, inbound ? "Incoming migration" : "Outgoing migration", "Unbounded"),
    ),
  );
}

/** Whether the host's libvirt has the dirty-rate API (7.2.0+). */
function measures(host: SandboxHost): boolean {
  const [major, minor, micro] = (host.seed.libvirtVersion ?? SANDBOX_LIBVIRT_VERSION).split(".").map(Number);
  return libvirtMeasuresDirtyRate({ major: major ?? 0, minor: minor ?? 0, micro: micro ?? 0 });
}

/** `virsh domdirtyrate-calc` and `virsh domstats --dirtyrate` on a running domain of this host. */
function dirtyRate(
  view: HostCommandsView,
  host: SandboxHost,
  cmd: Extract<HostCommand, { kind: "virsh-domdirtyrate-calc" | "virsh-domstats-dirtyrate" }>,
): HostCommandResult {
  if (!measures(host)) {
    // virsh before 7.2.0 knows neither the command nor domstats' option.
    return cmd.kind === "virsh-domdirtyrate-calc"
      ? virshError("error: unknown command: 'domdirtyrate-calc'")
      : virshError("error: command 'domstats' doesn't support option --dirtyrate");
  }
  const vm = [...view.vms.values()].find(
    (v) => v.host === host.name && (v.instanceName === cmd.domain || v.uuid === cmd.domain),
  );
  if (!vm) return virshError(`error: failed to get domain '${cmd.domain}'`);
  if (cmd.kind === "virsh-domdirtyrate-calc") {
    if (vm.domainId === null)
      return virshError("error: Requested operation is not valid: domain is not running");
    if (cmd.seconds < 1 || cmd.seconds > 60) return { ...dirtyRateSecondsRefusal(cmd.seconds), exitCode: 1 };
    host.dirtyRateCalcs.set(vm.instanceName, { startS: view.nowS(), periodS: cmd.seconds });
    return ok(formatDirtyRateCalcStarted());
  }
  return ok(
    formatDomstatsDirtyRate(vm.instanceName, host.dirtyRateCalcs.get(vm.instanceName), view.nowS(), {
      dirtyRateBytesPerS: vm.seed.dirtyRateMiBps * 1024 ** 2,
      workingSetBytes: vm.seed.workingSetMiB * 1024 ** 2,
    }),
  );
}

/** The NIC a host reaches `peer` through: eth1 for a link faster or slower than the default, else eth0. */
function nicTowards(view: HostCommandsView, host: SandboxHost, peer: SandboxHost): string {
  return view.linkMiBps(host.name, peer.name) === view.defaultLinkMiBps ? "eth0" : "eth1";
}

/** `ip -o route get <address>`: on-link through the NIC of the link to the host that has it. */
function routeGet(view: HostCommandsView, host: SandboxHost, address: string): HostCommandResult {
  const peer = [...view.hosts.values()].find((h) => h.seed.hostIp === address);
  const dev = peer === undefined ? "eth0" : nicTowards(view, host, peer);
  return ok(formatRouteGet(address, dev, host.seed.hostIp));
}

/** `cat -- /sys/class/net/<if>/speed`: eth0 at the default link's speed, eth1 at the host's explicit links'. */
function nicSpeed(view: HostCommandsView, host: SandboxHost, iface: string): HostCommandResult {
  const path = `/sys/class/net/${iface}/speed`;
  if (iface === "lo") return { stdout: "", stderr: `cat: ${path}: Invalid argument\n`, exitCode: 1 };
  const explicit = [...view.hosts.values()]
    .filter((peer) => peer !== host && nicTowards(view, host, peer) === "eth1")
    .map((peer) => view.linkMiBps(host.name, peer.name));
  if (iface === "eth0") return ok(`${nicSpeedMbpsForLink(view.defaultLinkMiBps)}\n`);
  if (iface === "eth1" && explicit.length > 0) return ok(`${nicSpeedMbpsForLink(Math.max(...explicit))}\n`);
  return { stdout: "", stderr: `cat: ${path}: No such file or directory\n`, exitCode: 1 };
}

function ok(stdout: string): HostCommandResult {
  return { stdout, stderr: "", exitCode: 0 };
}

function virshError(text: string): HostCommandResult {
  return { stdout: "", stderr: `${text}\n\n`, exitCode: 1 };
}
