/**
 * The lab's layout and every file it writes, as pure functions of the options: which hosts exist,
 * where their folders live, and the text of their sshd_config, nova.conf, libvirtd.conf, qemu.conf,
 * /etc/hosts and SSH client settings. Nothing here touches the machine.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { stringify } from "yaml";
import type { HostEntry } from "../hosts/inventory";
import { LabError } from "./errors";

/** Where `up` keeps keys, per-host folders, logs and the PID records. */
export const DEFAULT_STATE_DIR = "/run/migbot-lab";
/** @defaultValue 3 — the story needs a source, a destination and a spare. */
export const DEFAULT_HOST_COUNT = 3;
/** Addresses are 10.99.0.1N, so at most 9 hosts; at least 2 to migrate between. */
export const MIN_HOST_COUNT = 2;
export const MAX_HOST_COUNT = 9;
/** A bridge with no physical port: traffic between hosts and the root namespace never leaves the box. */
export const LAB_BRIDGE = "mgblab0";
export const LAB_SUBNET = "10.99.0.0/24";
export const LAB_BRIDGE_ADDRESS = "10.99.0.1";
export const LAB_PREFIX_LENGTH = 24;
export const LAB_SSH_PORT = 22;
/** Releases given to odd and even hosts, so both nova.conf dialects are always present. */
export const MITAKA_RELEASE = "mitaka";
export const NEWTON_PLUS_RELEASE = "zed";
/**
 * Bandwidth cap written into nova.conf, in MiB/s: below the dirty guest's ~27 MiB/s, so it never
 * converges without auto-converge, yet high enough that QEMU's default auto-converge (20 % then
 * +10 % per two syncs) reaches the needed ~70 % throttle within about a minute.
 */
export const LAB_MIGRATION_BANDWIDTH_MIBPS = 8;
/**
 * The Mitaka hosts' cap, where the story's dirty guest starts: 5 MiB/s. While a migration runs,
 * QEMU's dirty logging under TCG slows the guest's dirtying to ~7–8 MiB/s (far below its ~27 MiB/s
 * idle), so at 8 MiB/s it sat on the edge and, in two CI runs on 2026-11-29, converged unaided after
 * 9–32 iterations. At 5 the non-convergence is real with margin, and QEMU's default auto-converge
 * needs only ~40 % throttle.
 */
export const LAB_MITAKA_MIGRATION_BANDWIDTH_MIBPS = 5;
/**
 * Mitaka's `live_migration_progress_timeout` in the lab's nova.conf, seconds (Nova's default is 150):
 * a migration that makes no progress is aborted at a short bound.
 */
export const LAB_PROGRESS_TIMEOUT_S = 60;
/**
 * `live_migration_completion_timeout` (seconds per GiB; Nova counts at least 2 GiB of RAM, so a
 * 128 MiB guest gets twice this): the bound for releases without a progress timeout.
 */
export const LAB_COMPLETION_TIMEOUT_S_PER_GIB = 60;

/**
 * The CPU each host declares (libvirt cputestdata host CPUs, shipped in src/sandbox/data/cputestdata
 * with their origin in src/sandbox/data/SOURCES.md), by host index from 1: Haswell, Broadwell,
 * Skylake, then round again. A Haswell guest runs on Broadwell; a Skylake one does not run on Haswell.
 */
export const DECLARED_CPU_FILES = [
  "x86-cpuid-Core-i7-4600U-host.xml",
  "x86-cpuid-Core-i7-5600U-host.xml",
  "x86-cpuid-Core-i5-6600-host.xml",
] as const;

/** Folders every host gets its own copy of (bind-mounted from its state folder inside its mount namespace). */
export const PER_HOST_BIND_TARGETS = [
  "/run/libvirt",
  "/var/lib/libvirt",
  "/var/cache/libvirt",
  "/var/log/libvirt",
  "/var/log/nova",
  // The host's systemctl, nova-compute and virsh (host-scripts.ts): first in sshd's PATH for root.
  "/usr/local/sbin",
] as const;

/**
 * Per-host folders a real nova-compute also needs (openstack mode): its state_path, which holds
 * instances_path and lock_path. Separate instance folders are what makes Nova choose block migration.
 */
export const OPENSTACK_EXTRA_BIND_TARGETS = ["/var/lib/nova"] as const;

export interface LabOptions {
  /** @defaultValue 3 */
  hosts?: number;
  /** @defaultValue "/run/migbot-lab" */
  stateDir?: string;
  /**
   * Real OpenStack Zed (Debian 12's packages) instead of the imitation agents: a control plane on
   * the bridge address and a real nova-compute in every host, all hosts Zed. @defaultValue false
   */
  openstack?: boolean;
}

export interface LabHostPlan {
  /** 1-based. */
  index: number;
  /** `cmpN`: hostname, network namespace name and the name in every /etc/hosts. */
  name: string;
  address: string;
  /** Root-side end of the veth pair, attached to the bridge (the other end is `eth0` inside). */
  vethName: string;
  release: typeof MITAKA_RELEASE | typeof NEWTON_PLUS_RELEASE;
  /** libvirt refuses to migrate to "the same host"; all namespaces share one SMBIOS UUID, so each gets its own. */
  hostUuid: string;
  /** This host's folder in the state dir. */
  dir: string;
  etcUpperDir: string;
  etcWorkDir: string;
  binds: { source: string; target: string }[];
  sshdLogPath: string;
  libvirtdPidPath: string;
  libvirtdStartLogPath: string;
  /** File name in src/sandbox/data/cputestdata of the CPU this host declares. */
  declaredCpuFile: string;
  /** Where the declared CPU is copied: `<host dir>/declared-cpu.xml`. */
  declaredCpuPath: string;
}

export interface LabPlan {
  stateDir: string;
  /** Real OpenStack mode (`up --openstack`). */
  openstack: boolean;
  hosts: LabHostPlan[];
  statePath: string;
  clientKeyPath: string;
  knownHostsPath: string;
  sshConfigPath: string;
  inventoryPath: string;
  guestDir: string;
  /** `clouds.yaml` of the real control plane (openstack mode only). */
  cloudsYamlPath: string;
}

/** Checks the options and lays the lab out. */
export function planLab(options: LabOptions = {}): LabPlan {
  const count = options.hosts ?? DEFAULT_HOST_COUNT;
  if (!Number.isInteger(count) || count < MIN_HOST_COUNT || count > MAX_HOST_COUNT) {
    throw new LabError(
      "LAB_USAGE",
      `--hosts must be a whole number from ${MIN_HOST_COUNT} to ${MAX_HOST_COUNT} (addresses are 10.99.0.1N), got ${count}`,
    );
  }
  const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  if (!stateDir.startsWith("/") || /[\s'"\\$`]/.test(stateDir) || stateDir === "/") {
    throw new LabError(
      "LAB_USAGE",
      `--state-dir must be an absolute path without spaces or quotes (it is written into sshd_config and mount options), got '${stateDir}'`,
    );
  }
  const openstack = options.openstack ?? false;
  const bindTargets: readonly string[] = openstack
    ? [...PER_HOST_BIND_TARGETS, ...OPENSTACK_EXTRA_BIND_TARGETS]
    : PER_HOST_BIND_TARGETS;
  const hosts: LabHostPlan[] = [];
  for (let index = 1; index <= count; index++) {
    const name = `cmp${index}`;
    const dir = join(stateDir, name);
    hosts.push({
      index,
      name,
      address: `10.99.0.1${index}`,
      vethName: `mgb-${name}`,
      // Debian 12 ships one OpenStack release (Zed): in openstack mode every host runs it.
      release: openstack || index % 2 === 0 ? NEWTON_PLUS_RELEASE : MITAKA_RELEASE,
      hostUuid: hostUuidFor(name),
      dir,
      etcUpperDir: join(dir, "etc-upper"),
      etcWorkDir: join(dir, "etc-work"),
      binds: bindTargets.map((target) => ({
        target,
        source: bindSourceDir(dir, target),
      })),
      sshdLogPath: join(dir, "sshd.log"),
      libvirtdPidPath: join(dir, "libvirtd.pid"),
      libvirtdStartLogPath: join(dir, "libvirtd-start.log"),
      declaredCpuFile: DECLARED_CPU_FILES[(index - 1) % DECLARED_CPU_FILES.length]!,
      declaredCpuPath: join(dir, "declared-cpu.xml"),
    });
  }
  return {
    stateDir,
    openstack,
    hosts,
    statePath: join(stateDir, "state.json"),
    clientKeyPath: join(stateDir, "client_ed25519"),
    knownHostsPath: join(stateDir, "known_hosts"),
    sshConfigPath: join(stateDir, "ssh_config"),
    inventoryPath: join(stateDir, "inventory.yaml"),
    guestDir: join(stateDir, "guest"),
    cloudsYamlPath: join(stateDir, "clouds.yaml"),
  };
}

/** The folder in a host's state folder that is bind-mounted over `target` inside the host. */
export function bindSourceDir(hostDir: string, target: string): string {
  return join(hostDir, "fs", target.replace(/^\//, "").replaceAll("/", "-"));
}

/** A stable, valid (version 4 shaped) UUID per host name, so a host keeps its identity across `up`s. */
export function hostUuidFor(name: string): string {
  const hex = createHash("sha256").update(`migbot-lab:${name}`).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The sshd_config at /etc/ssh/sshd_config inside a host. */
export function renderSshdConfig(plan: LabPlan, host: LabHostPlan): string {
  return [
    `# migbot lab: sshd of ${host.name}, reachable at ${host.address}:${LAB_SSH_PORT} from the root namespace`,
    `Port ${LAB_SSH_PORT}`,
    "ListenAddress 0.0.0.0",
    "HostKey /etc/ssh/ssh_host_ed25519_key",
    `PidFile ${join(host.dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${plan.clientKeyPath}.pub`,
    "PermitRootLogin prohibit-password",
    "PubkeyAuthentication yes",
    // No PAM stack and no pam_systemd here; the key files live in the state dir, not root's home.
    "UsePAM no",
    "StrictModes no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "X11Forwarding no",
    "PrintMotd no",
    "AcceptEnv LANG LC_*",
    "Subsystem sftp internal-sftp",
    "",
  ].join("\n");
}

/**
 * /etc/ssh/ssh_config inside each host: root (and so libvirtd's `qemu+ssh://cmpN/system`) reaches the
 * other hosts with the lab key and refuses any host key that is not pinned.
 */
export function renderHostSshClientConfig(plan: LabPlan): string {
  return [
    "# migbot lab: SSH from one compute host to another (libvirt peer-to-peer migration uses it)",
    `Host ${plan.hosts.map((h) => `${h.name} ${h.address}`).join(" ")}`,
    "  User root",
    `  IdentityFile ${plan.clientKeyPath}`,
    "  IdentitiesOnly yes",
    "  StrictHostKeyChecking yes",
    "  UserKnownHostsFile /etc/ssh/ssh_known_hosts",
    "  GlobalKnownHostsFile /etc/ssh/ssh_known_hosts",
    "  BatchMode yes",
    "  ConnectTimeout 5",
    "",
    "Host *",
    "  SendEnv LANG LC_*",
    "",
  ].join("\n");
}

/** `ssh -F <this> cmp1` from the root namespace. */
export function renderRootSshConfig(plan: LabPlan): string {
  const blocks = plan.hosts.map((h) =>
    [
      `Host ${h.name}`,
      `  HostName ${h.address}`,
      `  Port ${LAB_SSH_PORT}`,
      "  User root",
      `  IdentityFile ${plan.clientKeyPath}`,
      "  IdentitiesOnly yes",
      "  StrictHostKeyChecking yes",
      `  UserKnownHostsFile ${plan.knownHostsPath}`,
      "  GlobalKnownHostsFile /dev/null",
      "  BatchMode yes",
      "  ConnectTimeout 5",
    ].join("\n"),
  );
  return `# migbot lab: reach the compute hosts from the root namespace\n${blocks.join("\n\n")}\n`;
}

/** known_hosts naming each host by name and address, with its ed25519 key. */
export function renderKnownHosts(plan: LabPlan, publicKeys: ReadonlyMap<string, string>): string {
  return plan.hosts
    .map((h) => {
      const key = publicKeys.get(h.name);
      if (key === undefined) throw new Error(`no host key for ${h.name}`);
      const [type, blob] = key.trim().split(/\s+/);
      return `${h.name},${h.address} ${type} ${blob}`;
    })
    .join("\n")
    .concat("\n");
}

/** /etc/hosts inside a host: the host's own name resolves to its lab address (libvirt gives it to the peer). */
export function renderEtcHosts(plan: LabPlan): string {
  return [
    "127.0.0.1 localhost",
    "::1 localhost ip6-localhost ip6-loopback",
    `${LAB_BRIDGE_ADDRESS} lab-gateway`,
    ...plan.hosts.map((h) => `${h.address} ${h.name}`),
    "",
  ].join("\n");
}

/**
 * /etc/nova/nova.conf: odd hosts are written the way a Mitaka deployment wrote it (auto-converge only
 * through `live_migration_flag`), even hosts the Newton+ way (`live_migration_permit_auto_converge`).
 * Neither enables auto-converge, so a dirty guest does not converge until the bot's fix is applied.
 */
export function renderNovaConf(host: LabHostPlan): string {
  const common = [
    "[DEFAULT]",
    `host = ${host.name}`,
    `my_ip = ${host.address}`,
    "compute_driver = libvirt.LibvirtDriver",
    "state_path = /var/lib/nova",
    "log_dir = /var/log/nova",
    "",
  ];
  if (host.release === MITAKA_RELEASE) {
    return [
      `# nova.conf of ${host.name} (migbot lab): Mitaka-style live-migration settings`,
      ...common,
      "[libvirt]",
      "virt_type = qemu",
      "live_migration_uri = qemu+ssh://%s/system",
      "# VIR_MIGRATE_AUTO_CONVERGE is not in the list: Mitaka has no other switch for it.",
      "live_migration_flag = VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE",
      `live_migration_bandwidth = ${LAB_MITAKA_MIGRATION_BANDWIDTH_MIBPS}`,
      "live_migration_downtime = 500",
      "live_migration_downtime_steps = 10",
      "live_migration_downtime_delay = 75",
      `live_migration_completion_timeout = ${LAB_COMPLETION_TIMEOUT_S_PER_GIB}`,
      `live_migration_progress_timeout = ${LAB_PROGRESS_TIMEOUT_S}`,
      "",
    ].join("\n");
  }
  return [
    `# nova.conf of ${host.name} (migbot lab): Newton-and-later live-migration settings`,
    ...common,
    ...zedLibvirtSection(host),
    "",
  ].join("\n");
}

/**
 * The `[libvirt]` section of a Newton-and-later host: the same live-migration settings whether the
 * host runs the lab agent or a real nova-compute (`up --openstack`), so the bot meets one config.
 */
export function zedLibvirtSection(host: Pick<LabHostPlan, "name">): string[] {
  return [
    "[libvirt]",
    "virt_type = qemu",
    "live_migration_scheme = ssh",
    `live_migration_inbound_addr = ${host.name}`,
    "live_migration_tunnelled = false",
    `live_migration_bandwidth = ${LAB_MIGRATION_BANDWIDTH_MIBPS}`,
    "live_migration_downtime = 500",
    "live_migration_downtime_steps = 10",
    "live_migration_downtime_delay = 75",
    `live_migration_completion_timeout = ${LAB_COMPLETION_TIMEOUT_S_PER_GIB}`,
    "live_migration_permit_post_copy = false",
    "live_migration_permit_auto_converge = false",
  ];
}

/**
 * /etc/libvirt/libvirtd.conf. Debian's libvirt-daemon ships no libvirtd.conf or qemu.conf (they come
 * with libvirt-daemon-system, which pulls in systemd), so the lab writes both files whole.
 */
export function renderLibvirtdConf(host: LabHostPlan): string {
  return [
    `# libvirtd.conf of ${host.name} (migbot lab)`,
    `host_uuid = "${host.hostUuid}"`,
    'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"',
    "",
  ].join("\n");
}

/** /etc/libvirt/qemu.conf: QEMU runs as root with no sVirt, no cgroups, and logs stdio to files (no virtlogd). */
export function renderQemuConf(): string {
  return [
    "# qemu.conf (migbot lab)",
    'user = "root"',
    'group = "root"',
    'security_driver = "none"',
    "dynamic_ownership = 0",
    "remember_owner = 0",
    "cgroup_controllers = [ ]",
    'stdio_handler = "file"',
    "",
  ].join("\n");
}

/** The user and groups Debian's libvirt is built to run QEMU as; libvirtd looks them up before reading qemu.conf. */
export const LIBVIRT_QEMU_ACCOUNT = "libvirt-qemu";
const LIBVIRT_QEMU_GROUPS = ["libvirt-qemu", "kvm"];
/** Debian's fixed id for libvirt-qemu; any free id below 65534 would do. */
const LIBVIRT_QEMU_PREFERRED_ID = 64055;

function freeId(used: Set<number>, preferred: number): number {
  for (let id = preferred; id > 999; id--) if (!used.has(id)) return id;
  throw new Error("no free system id for libvirt-qemu");
}

function ids(file: string, field: number): Set<number> {
  return new Set(file.split("\n").map((line) => Number(line.split(":")[field])));
}

/**
 * The host's /etc/passwd and /etc/group: the real files plus `libvirt-qemu` (and group `kvm`) when
 * missing. libvirt 9.0's QEMU driver resolves its built-in default user before qemu.conf's
 * `user = "root"` applies, and refuses to start when the account does not exist — it is created by
 * libvirt-daemon-system, which the lab does not install. Only the host's overlay gets the lines.
 */
export function withLibvirtQemuAccount(passwd: string, group: string): { passwd: string; group: string } {
  const hasLine = (file: string, name: string) =>
    file.split("\n").some((line) => line.startsWith(`${name}:`));
  const ensureNewline = (file: string) => (file === "" || file.endsWith("\n") ? file : `${file}\n`);
  let outGroup = ensureNewline(group);
  for (const name of LIBVIRT_QEMU_GROUPS) {
    if (!hasLine(outGroup, name)) {
      outGroup += `${name}:x:${freeId(ids(outGroup, 2), LIBVIRT_QEMU_PREFERRED_ID)}:\n`;
    }
  }
  let outPasswd = ensureNewline(passwd);
  if (!hasLine(outPasswd, LIBVIRT_QEMU_ACCOUNT)) {
    const gid = outGroup
      .split("\n")
      .find((line) => line.startsWith(`${LIBVIRT_QEMU_ACCOUNT}:`))
      ?.split(":")[2];
    const uid = freeId(ids(outPasswd, 2), LIBVIRT_QEMU_PREFERRED_ID);
    outPasswd += `${LIBVIRT_QEMU_ACCOUNT}:x:${uid}:${gid}:Libvirt Qemu (migbot lab):/var/lib/libvirt:/usr/sbin/nologin\n`;
  }
  return { passwd: outPasswd, group: outGroup };
}

/** `SHA256:<base64 without padding>` of an OpenSSH one-line public key, as `ssh-keygen -lf` prints it. */
export function publicKeyFingerprint(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (blob === undefined || !/^[A-Za-z0-9+/]+=*$/.test(blob)) {
    throw new Error("not an OpenSSH public key line");
  }
  const digest = createHash("sha256").update(Buffer.from(blob, "base64")).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/** The inventory entries the bot uses to reach the lab hosts. */
export function inventoryEntries(plan: LabPlan, fingerprints: ReadonlyMap<string, string>): HostEntry[] {
  return plan.hosts.map((h) => {
    const fingerprint = fingerprints.get(h.name);
    if (fingerprint === undefined) throw new Error(`no host key fingerprint for ${h.name}`);
    return {
      name: h.name,
      address: h.address,
      port: LAB_SSH_PORT,
      user: "root",
      privateKeyPath: plan.clientKeyPath,
      hostKeyFingerprints: [fingerprint],
      release: h.release,
      // Lab hosts have no nova-compute.conf; naming the one file keeps readers from looking for it.
      novaConfPaths: ["/etc/nova/nova.conf"],
    };
  });
}

/** inventory.yaml: `{ hosts: HostEntry[] }`. */
export function renderInventory(plan: LabPlan, fingerprints: ReadonlyMap<string, string>): string {
  const header = `# migbot lab inventory, written by \`migbot lab up\`; valid until \`migbot lab down\`.\n`;
  return header + stringify({ hosts: inventoryEntries(plan, fingerprints) });
}
