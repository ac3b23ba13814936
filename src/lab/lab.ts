/**
 * `migbot lab up|down|status`: real compute hosts on one machine. Each host is a network namespace
 * (veth into a bridge with no physical port) with its own UTS and mount namespaces, an overlay on
 * /etc, its own sshd and a system-mode libvirtd; see ../../../shared/LAB.md for the recipe.
 */
import { spawn } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { shellQuote } from "../hosts/catalogue";
import { readSandboxData } from "../sandbox/data-files";
import { agentPidPath, agentSocketPath } from "./agent-protocol";
import { LabError } from "./errors";
import { labPath, mustRun, runCommand, sleep } from "./exec";
import { buildGuest, DEFAULT_SPIN_ITERATIONS, listDomains } from "./guest";
import { inHost, virsh } from "./host-exec";
import { REAL_NOVA_COMPUTE_PATH, renderHostScripts } from "./host-scripts";
import {
  describeOpenStack,
  finishOpenStack,
  makeMountPoint,
  type OpenStackRun,
  openStackPreflight,
  prepareOpenStack,
  startOpenStackControlPlane,
  writeComputeHostFiles,
} from "./openstack/lab-mode";
import {
  bindSourceDir,
  DEFAULT_STATE_DIR,
  LAB_BRIDGE,
  LAB_BRIDGE_ADDRESS,
  LAB_PREFIX_LENGTH,
  LAB_SSH_PORT,
  type LabHostPlan,
  type LabOptions,
  type LabPlan,
  PER_HOST_BIND_TARGETS,
  planLab,
  publicKeyFingerprint,
  renderEtcHosts,
  renderHostSshClientConfig,
  renderInventory,
  renderKnownHosts,
  renderLibvirtdConf,
  renderNovaConf,
  renderQemuConf,
  renderRootSshConfig,
  renderSshdConfig,
  withLibvirtQemuAccount,
} from "./plan";
import {
  isRunning,
  type LabState,
  liveDescendants,
  loadState,
  processStartTime,
  type RecordedProcess,
  recordProcess,
  saveState,
} from "./state";

/** One `ip`, `ssh-keygen` or `unshare` call; they finish in milliseconds. */
const QUICK_COMMAND_TIMEOUT_MS = 10_000;
/** From spawning a host's sshd to it accepting TCP on port 22. */
const SSHD_READY_TIMEOUT_MS = 15_000;
/** `libvirtd -d` returns once daemonized. */
const LIBVIRTD_DAEMONIZE_TIMEOUT_MS = 30_000;
/** From daemonizing to answering `virsh version`: the first start probes QEMU's capabilities (seconds on 2 busy cores). */
const LIBVIRTD_READY_TIMEOUT_MS = 90_000;
const READY_POLL_INTERVAL_MS = 200;
/** From `systemctl start nova-compute` to the agent serving its socket (node + tsx load, config read). */
const AGENT_READY_TIMEOUT_MS = 30_000;
/** After SIGTERM, how long processes get to exit before SIGKILL. */
const TERM_GRACE_MS = 5_000;
/** After SIGKILL, how long until a survivor counts as a failure. */
const KILL_WAIT_MS = 5_000;
const EXIT_POLL_INTERVAL_MS = 50;
/** Rounds of "find namespace members, kill them": a session started during teardown is caught by the next round. */
const MAX_KILL_ROUNDS = 3;

/** Programs the lab runs, with the Debian package that installs each. */
const REQUIRED_PROGRAMS: readonly (readonly [string, string])[] = [
  ["ip", "iproute2"],
  ["unshare", "util-linux"],
  ["nsenter", "util-linux"],
  ["mount", "mount"],
  ["sshd", "openssh-server"],
  ["ssh", "openssh-client"],
  ["ssh-keygen", "openssh-client"],
  ["libvirtd", "libvirt-daemon libvirt-daemon-driver-qemu"],
  ["virsh", "libvirt-clients"],
  ["virt-ssh-helper", "libvirt-daemon"],
  ["qemu-system-x86_64", "qemu-system-x86"],
  ["as", "binutils"],
  ["ld", "binutils"],
];

export type Say = (line: string) => void;

/** Full path of a program on the lab's PATH, or null. */
export function findProgram(name: string): string | null {
  for (const dir of labPath().split(":")) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** Root, then namespaces, then programs: each failure says exactly what is missing and what to do. */
export async function preflight(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new LabError(
      "LAB_NOT_ROOT",
      "the lab must run as root (it creates network namespaces, mounts and daemons) — run `sudo npm run lab -- up`",
    );
  }
  const reason = await namespacesUnavailableReason();
  if (reason !== null) throw new LabError("LAB_NAMESPACES_UNAVAILABLE", reason);
  const missing = REQUIRED_PROGRAMS.filter(([name]) => findProgram(name) === null);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map(([, deb]) => deb))].join(" ");
    throw new LabError(
      "LAB_PROGRAM_MISSING",
      `missing ${missing.map(([n]) => n).join(", ")} — run \`apt-get install -y --no-install-recommends ${packages}\``,
    );
  }
}

/** Null when this machine lets root create network, UTS and mount namespaces and overlay mounts; else why not. */
export async function namespacesUnavailableReason(): Promise<string | null> {
  let result: Awaited<ReturnType<typeof runCommand>>;
  try {
    result = await runCommand(["unshare", "--net", "--uts", "--mount", "--propagation", "private", "true"], {
      timeoutMs: QUICK_COMMAND_TIMEOUT_MS,
    });
  } catch (err) {
    return `cannot run unshare (${(err as Error).message}) — install util-linux`;
  }
  if (result.code !== 0) {
    return `the kernel refused to create namespaces: \`unshare --net --uts --mount true\` said "${result.stderr.trim()}" — this needs root with CAP_SYS_ADMIN outside a restricted container (e.g. docker run --privileged); the lab cannot run here`;
  }
  const filesystems = readFileSync("/proc/filesystems", "utf8");
  if (!/\toverlay$/m.test(filesystems)) {
    return "the kernel has no overlay filesystem (not listed in /proc/filesystems) — load it with `modprobe overlay`; each host's /etc is an overlay";
  }
  return null;
}

function mountPoints(): string[] {
  // Field 5 of mountinfo is the mount point; octal escapes (\040 for space) do not occur in lab paths.
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined);
}

function waitForTcp(address: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}

async function pollUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await sleep(READY_POLL_INTERVAL_MS);
  }
  throw new LabError("LAB_TIMEOUT", `${what} did not happen within ${timeoutMs} ms`);
}

function lastLines(path: string, count: number): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-count).join("\n");
  } catch {
    return "(no log)";
  }
}

function writeFile(path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
}

/** Reads the lab's state, or throws LAB_NOT_UP. */
export function readLabState(stateDir: string = DEFAULT_STATE_DIR): LabState {
  const state = loadState(join(stateDir, "state.json"));
  if (state === null) {
    throw new LabError(
      "LAB_NOT_UP",
      `no lab recorded in ${stateDir} — start one with \`npm run lab -- up --state-dir ${stateDir}\``,
    );
  }
  return state;
}

async function checkNothingInTheWay(plan: LabPlan): Promise<void> {
  if (existsSync(plan.statePath)) {
    throw new LabError(
      "LAB_ALREADY_UP",
      `a lab is already recorded in ${plan.stateDir} — run \`npm run lab -- down --state-dir ${plan.stateDir}\` first`,
    );
  }
  const links = await runCommand(["ip", "-o", "link", "show"], { timeoutMs: QUICK_COMMAND_TIMEOUT_MS });
  const taken = [LAB_BRIDGE, ...plan.hosts.map((h) => h.vethName)].filter((name) =>
    new RegExp(`^\\d+: ${name}[@:]`, "m").test(links.stdout),
  );
  const namespaces = plan.hosts.filter((h) => existsSync(`/run/netns/${h.name}`)).map((h) => h.name);
  if (taken.length > 0 || namespaces.length > 0) {
    throw new LabError(
      "LAB_ALREADY_UP",
      `${[...taken, ...namespaces.map((n) => `netns ${n}`)].join(", ")} already exist: another lab (other --state-dir) is up — take it down with its state dir, or remove them by hand`,
    );
  }
  const addresses = await runCommand(["ip", "-o", "-4", "addr", "show"], {
    timeoutMs: QUICK_COMMAND_TIMEOUT_MS,
  });
  if (/\sinet 10\.99\.0\./.test(addresses.stdout)) {
    throw new LabError(
      "LAB_ADDRESS_IN_USE",
      "10.99.0.0/24 is already used by an interface in the root namespace — the lab needs that subnet; free it first",
    );
  }
}

async function makeHostFiles(
  plan: LabPlan,
  host: LabHostPlan,
  hostKeys: Map<string, string>,
  openstack: OpenStackRun | null,
): Promise<void> {
  const etc = host.etcUpperDir;
  writeFile(join(etc, "hostname"), `${host.name}\n`);
  writeFile(join(etc, "hosts"), renderEtcHosts(plan));
  writeFile(join(etc, "ssh", "sshd_config"), renderSshdConfig(plan, host));
  writeFile(join(etc, "ssh", "ssh_config"), renderHostSshClientConfig(plan));
  writeFile(join(etc, "ssh", "ssh_known_hosts"), renderKnownHosts(plan, hostKeys));
  if (openstack === null) writeFile(join(etc, "nova", "nova.conf"), renderNovaConf(host), 0o640);
  else writeComputeHostFiles(openstack, host);
  writeFile(join(etc, "libvirt", "libvirtd.conf"), renderLibvirtdConf(host));
  writeFile(join(etc, "libvirt", "qemu.conf"), renderQemuConf());
  const accounts = withLibvirtQemuAccount(
    readFileSync("/etc/passwd", "utf8"),
    readFileSync("/etc/group", "utf8"),
  );
  writeFile(join(etc, "passwd"), accounts.passwd);
  writeFile(join(etc, "group"), accounts.group);
  mkdirSync(host.etcWorkDir, { recursive: true });
  for (const bind of host.binds) mkdirSync(bind.source, { recursive: true });
  // libvirt-daemon-system's packaging normally makes this; QEMU's serial and stdio logs go there.
  mkdirSync(join(bindSourceDir(host.dir, "/var/log/libvirt"), "qemu"), { recursive: true });
  writeFile(host.declaredCpuPath, readSandboxData(`cputestdata/${host.declaredCpuFile}`));
  const releases = Object.fromEntries(plan.hosts.map((h) => [h.name, h.release]));
  const scripts = renderHostScripts({
    stateDir: plan.stateDir,
    releases,
    ...(openstack && { openstack: { notifyStartPath: openstack.ctx.layout.notifyStartPath } }),
  });
  for (const [name, text] of Object.entries(scripts)) {
    writeFile(join(bindSourceDir(host.dir, "/usr/local/sbin"), name), text, 0o755);
  }
}

/** Starts a host's nova-compute agent the way an operator would: `systemctl start nova-compute` inside it. */
async function startAgent(state: LabState, host: LabHostPlan): Promise<number> {
  await mustRun(inHost(state, host.name, ["/usr/local/sbin/systemctl", "start", "nova-compute"]), {
    timeoutMs: QUICK_COMMAND_TIMEOUT_MS,
    what: `starting nova-compute on ${host.name}`,
  });
  const pidPath = agentPidPath(state.stateDir, host.name);
  await pollUntil(`nova-compute agent of ${host.name} serving`, AGENT_READY_TIMEOUT_MS, async () => {
    const unit = readFileIfThere(join(host.dir, "nova-compute.unit"));
    if (unit === "failed") {
      throw new LabError(
        "LAB_COMMAND_FAILED",
        `nova-compute on ${host.name} failed to start: ${lastLines(join(bindSourceDir(host.dir, "/var/log/nova"), "nova-compute.log"), 3)} ${lastLines(join(host.dir, "nova-compute.out"), 5)}`,
      );
    }
    return existsSync(agentSocketPath(state.stateDir, host.name)) && existsSync(pidPath);
  });
  return Number(readFileSync(pidPath, "utf8").trim());
}

/** The PID in a host's nova-compute PID file when that process is still the agent (PIDs get reused). */
export function liveAgentPid(stateDir: string, host: string): number | null {
  const pid = Number(readFileIfThere(agentPidPath(stateDir, host)) ?? "");
  if (!Number.isInteger(pid) || pid <= 1) return null;
  const cmdline = readFileIfThere(`/proc/${pid}/cmdline`);
  // The lab agent, or (openstack mode) the real nova-compute started from the host's entry point.
  return cmdline?.includes("agent-main") || cmdline?.includes(REAL_NOVA_COMPUTE_PATH) ? pid : null;
}

function readFileIfThere(path: string): string | null {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
}

async function generateHostKey(host: LabHostPlan): Promise<string> {
  const keyPath = join(host.etcUpperDir, "ssh", "ssh_host_ed25519_key");
  mkdirSync(dirname(keyPath), { recursive: true });
  await mustRun(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `root@${host.name}`, "-f", keyPath], {
    timeoutMs: QUICK_COMMAND_TIMEOUT_MS,
    what: `generating ${host.name}'s host key`,
  });
  return readFileSync(`${keyPath}.pub`, "utf8").trim();
}

async function addNetwork(plan: LabPlan, state: LabState): Promise<void> {
  const ip = (args: string[], what: string) =>
    mustRun(["ip", ...args], { timeoutMs: QUICK_COMMAND_TIMEOUT_MS, what });
  await ip(["link", "add", LAB_BRIDGE, "type", "bridge"], `creating bridge ${LAB_BRIDGE}`);
  state.links.push(LAB_BRIDGE);
  saveState(plan.statePath, state);
  await ip(
    ["addr", "add", `${LAB_BRIDGE_ADDRESS}/${LAB_PREFIX_LENGTH}`, "dev", LAB_BRIDGE],
    "addressing the bridge",
  );
  await ip(["link", "set", LAB_BRIDGE, "up"], "bringing the bridge up");
  for (const host of plan.hosts) {
    const added = await runCommand(["ip", "netns", "add", host.name], {
      timeoutMs: QUICK_COMMAND_TIMEOUT_MS,
    });
    if (added.code !== 0) {
      const reason = added.stderr.trim();
      throw new LabError(
        /permission|not permitted|denied/i.test(reason) ? "LAB_NAMESPACES_UNAVAILABLE" : "LAB_COMMAND_FAILED",
        `\`ip netns add ${host.name}\` failed: ${reason} — the lab needs root allowed to create network namespaces`,
      );
    }
    state.namespaces.push(host.name);
    saveState(plan.statePath, state);
    await ip(
      ["link", "add", host.vethName, "type", "veth", "peer", "name", "eth0", "netns", host.name],
      `creating ${host.name}'s veth pair`,
    );
    state.links.push(host.vethName);
    saveState(plan.statePath, state);
    await ip(["link", "set", host.vethName, "master", LAB_BRIDGE, "up"], `attaching ${host.vethName}`);
    await ip(
      ["-n", host.name, "addr", "add", `${host.address}/${LAB_PREFIX_LENGTH}`, "dev", "eth0"],
      "addressing eth0",
    );
    await ip(["-n", host.name, "link", "set", "eth0", "up"], `bringing ${host.name}'s eth0 up`);
    await ip(["-n", host.name, "link", "set", "lo", "up"], `bringing ${host.name}'s lo up`);
  }
}

/** Starts a host's sshd in fresh UTS and mount namespaces inside its netns, after mounting its /etc and folders. */
async function startSshd(host: LabHostPlan): Promise<number> {
  const script = [
    "set -e",
    `hostname ${host.name}`,
    `mount -t overlay overlay -o ${shellQuote(`lowerdir=/etc,upperdir=${host.etcUpperDir},workdir=${host.etcWorkDir}`)} /etc`,
    ...host.binds.map((b) => `mount --bind ${shellQuote(b.source)} ${shellQuote(b.target)}`),
    "exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config",
  ].join("\n");
  const log = openSync(host.sshdLogPath, "a");
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      host.name,
      "unshare",
      "--uts",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
    ],
    { detached: true, stdio: ["ignore", log, log], env: { ...process.env, PATH: labPath() } },
  );
  let exited: number | null | undefined;
  child.on("exit", (code) => {
    exited = code;
  });
  child.unref();
  const pidPath = join(host.dir, "sshd.pid");
  await pollUntil(
    `sshd of ${host.name} listening on ${host.address}:${LAB_SSH_PORT}`,
    SSHD_READY_TIMEOUT_MS,
    async () => {
      if (exited !== undefined) {
        throw new LabError(
          "LAB_COMMAND_FAILED",
          `${host.name} did not start (exit ${exited}): ${lastLines(host.sshdLogPath, 5)} — full log: ${host.sshdLogPath}`,
        );
      }
      return existsSync(pidPath) && (await waitForTcp(host.address, LAB_SSH_PORT, 1_000));
    },
  );
  // sshd's own PidFile, not the spawned PID: `ip netns exec`, unshare and sh all exec, but an
  // iproute2 that forks would make child.pid a different process.
  return Number(readFileSync(pidPath, "utf8").trim());
}

async function startLibvirtd(state: LabState, host: LabHostPlan, sshdPid: number): Promise<number> {
  const log = openSync(host.libvirtdStartLogPath, "a");
  const child = spawn(
    "nsenter",
    ["-t", String(sshdPid), "-m", "-n", "-u", "--", "libvirtd", "-d", "-p", host.libvirtdPidPath],
    { stdio: ["ignore", log, log], env: { ...process.env, PATH: labPath() } },
  );
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), LIBVIRTD_DAEMONIZE_TIMEOUT_MS);
    child.on("exit", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const libvirtdLog = join(
    host.binds.find((b) => b.target === "/var/log/libvirt")?.source ?? host.dir,
    "libvirtd.log",
  );
  if (code !== 0 || !existsSync(host.libvirtdPidPath)) {
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `libvirtd on ${host.name} did not start (exit ${code}): ${lastLines(host.libvirtdStartLogPath, 3)} ${lastLines(libvirtdLog, 3)}`,
    );
  }
  const pid = Number(readFileSync(host.libvirtdPidPath, "utf8").trim());
  state.processes.push(recordProcess("libvirtd", host.name, pid));
  await pollUntil(`libvirtd of ${host.name} answering`, LIBVIRTD_READY_TIMEOUT_MS, async () => {
    if (processStartTime(pid) === null) {
      throw new LabError(
        "LAB_COMMAND_FAILED",
        `libvirtd on ${host.name} exited: ${lastLines(libvirtdLog, 5)}`,
      );
    }
    return (await virsh(state, host.name, ["version"], QUICK_COMMAND_TIMEOUT_MS)).code === 0;
  });
  return pid;
}

export interface LabUpOptions extends LabOptions {
  /** Guest spin iterations per page (sets its dirty rate). @defaultValue DEFAULT_SPIN_ITERATIONS */
  spinIterations?: number;
}

/** Brings the lab up; on any failure takes down whatever it had made, then rethrows. */
export async function labUp(options: LabUpOptions = {}, say: Say = console.log): Promise<LabState> {
  const plan = planLab(options);
  await preflight();
  if (plan.openstack) openStackPreflight();
  await checkNothingInTheWay(plan);
  const started = Date.now();
  mkdirSync(plan.stateDir, { recursive: true, mode: 0o700 });
  const state: LabState = {
    version: 1,
    stateDir: plan.stateDir,
    createdAt: new Date().toISOString(),
    hosts: plan.hosts.map((h) => ({ name: h.name, address: h.address, release: h.release })),
    namespaces: [],
    links: [],
    netnsMountCreated: !mountPoints().includes("/run/netns"),
    processes: [],
    complete: false,
  };
  saveState(plan.statePath, state);
  let openstack: OpenStackRun | null = null;
  try {
    if (plan.openstack) openstack = prepareOpenStack(plan, state, say, started);
    await mustRun(
      ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "migbot-lab-client", "-f", plan.clientKeyPath],
      {
        timeoutMs: QUICK_COMMAND_TIMEOUT_MS,
        what: "generating the lab client key",
      },
    );
    const spinIterations = options.spinIterations ?? DEFAULT_SPIN_ITERATIONS;
    // <guest dir>/dirty.elf: the guest the agent lab boots (`--openstack` builds its images from the spin).
    await buildGuest(plan.guestDir, spinIterations);
    const hostKeys = new Map<string, string>();
    for (const host of plan.hosts) hostKeys.set(host.name, await generateHostKey(host));
    const fingerprints = new Map([...hostKeys].map(([name, key]) => [name, publicKeyFingerprint(key)]));
    for (const h of state.hosts) h.hostKeyFingerprint = fingerprints.get(h.name);
    for (const host of plan.hosts) await makeHostFiles(plan, host, hostKeys, openstack);
    // Mount points must exist in the shared root filesystem before a host can bind over them.
    for (const target of [...PER_HOST_BIND_TARGETS, "/run/sshd"]) mkdirSync(target, { recursive: true });
    for (const bind of plan.hosts[0]?.binds ?? []) makeMountPoint(state, bind.target);
    saveState(plan.statePath, state);
    await addNetwork(plan, state);
    // The control plane needs only the bridge address: it comes up while the hosts do.
    if (openstack !== null) startOpenStackControlPlane(openstack);

    const sshdPids = new Map<string, number>();
    for (const host of plan.hosts) {
      const pid = await startSshd(host);
      state.processes.push(recordProcess("sshd", host.name, pid));
      saveState(plan.statePath, state);
      sshdPids.set(host.name, pid);
    }
    say(
      `migbot lab: ${plan.hosts.length} hosts' namespaces and sshd up in ${Date.now() - started} ms; starting libvirtd`,
    );
    // The first libvirtd probes QEMU's capabilities (~8 s on two cores); the others start from a copy
    // of its cache (same binaries, same kernel and CPU, so libvirt accepts it) and start together.
    const [first, ...others] = plan.hosts;
    await startLibvirtd(state, first!, sshdPids.get(first!.name)!);
    saveState(plan.statePath, state);
    const cache = join(bindSourceDir(first!.dir, "/var/cache/libvirt"), "qemu", "capabilities");
    for (const host of others) {
      if (existsSync(cache)) {
        cpSync(cache, join(bindSourceDir(host.dir, "/var/cache/libvirt"), "qemu", "capabilities"), {
          recursive: true,
        });
      }
    }
    await Promise.all(others.map((host) => startLibvirtd(state, host, sshdPids.get(host.name)!)));
    saveState(plan.statePath, state);
    if (openstack !== null) {
      await finishOpenStack(openstack, plan, state, spinIterations);
    } else {
      const agentPids = await Promise.all(plan.hosts.map((host) => startAgent(state, host)));
      plan.hosts.forEach((host, i) => {
        state.processes.push(recordProcess("nova-compute", host.name, agentPids[i]!));
      });
    }
    saveState(plan.statePath, state);

    writeFile(plan.knownHostsPath, renderKnownHosts(plan, hostKeys));
    writeFile(plan.sshConfigPath, renderRootSshConfig(plan));
    writeFile(plan.inventoryPath, renderInventory(plan, fingerprints));
    state.complete = true;
    saveState(plan.statePath, state);
    say(describeLab(plan, state, Date.now() - started));
    if (openstack !== null) {
      say(describeOpenStack(plan, openstack.ctx.layout, openstack.ctx.timings).join("\n"));
    }
    return state;
  } catch (err) {
    // A control plane still starting in the background must not add processes while down runs.
    await openstack?.controlPlane?.catch(() => {});
    say(`migbot lab: up failed, taking down what was made: ${(err as Error).message}`);
    await labDown(plan.stateDir, () => {}).catch((downErr: Error) =>
      say(`migbot lab: cleanup after the failed up also failed: ${downErr.message}`),
    );
    throw err;
  }
}

function describeLab(plan: LabPlan, state: LabState, elapsedMs: number): string {
  const rows = state.hosts.map(
    (h) =>
      `  ${h.name}  ${h.address}:${LAB_SSH_PORT}  user root  ${h.release.padEnd(7)} host key ${h.hostKeyFingerprint}`,
  );
  return [
    `migbot lab: ${state.hosts.length} compute hosts up in ${elapsedMs} ms (state in ${plan.stateDir})`,
    ...rows,
    `client key:   ${plan.clientKeyPath}`,
    `known hosts:  ${plan.knownHostsPath}`,
    `inventory:    ${plan.inventoryPath}`,
    `guest kernel: ${join(plan.guestDir, "dirty.elf")}`,
    state.openstack
      ? "nova-compute: real nova-compute 26.2.2 per host (`systemctl is-active nova-compute` inside; log /var/log/nova/nova-compute.log)"
      : "nova-compute: one agent per host (`systemctl is-active nova-compute` inside; log /var/log/nova/nova-compute.log)",
    `try:          ssh -F ${plan.sshConfigPath} cmp1 virsh list --all`,
    `take down:    npm run lab -- down --state-dir ${plan.stateDir}`,
  ].join("\n");
}

/** What `down` found and removed. */
export interface LabDownReport {
  killed: RecordedProcess[];
  namespacesDeleted: string[];
  linksDeleted: string[];
}

async function namespaceMembers(namespace: string): Promise<number[]> {
  if (!existsSync(`/run/netns/${namespace}`)) return [];
  const result = await runCommand(["ip", "netns", "pids", namespace], {
    timeoutMs: QUICK_COMMAND_TIMEOUT_MS,
  });
  return result.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

function qemuPidFiles(stateDir: string, host: string): number[] {
  const dir = join(bindSourceDir(join(stateDir, host), "/run/libvirt"), "qemu");
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(".pid"))
    .map((n) => Number(readFileSync(join(dir, n), "utf8").trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 1);
}

async function waitForExit(procs: RecordedProcess[], timeoutMs: number): Promise<RecordedProcess[]> {
  const started = Date.now();
  let alive = procs.filter(isRunning);
  while (alive.length > 0 && Date.now() - started < timeoutMs) {
    await sleep(EXIT_POLL_INTERVAL_MS);
    alive = alive.filter(isRunning);
  }
  return alive;
}

function signal(proc: RecordedProcess, sig: NodeJS.Signals): void {
  // Re-checked right before signalling: the start time proves the PID still names the process we recorded.
  if (!isRunning(proc)) return;
  try {
    process.kill(proc.pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

/** Kills every process the lab started (by recorded PID), deletes its namespaces and links, and checks nothing is left. */
export async function labDown(
  stateDir: string = DEFAULT_STATE_DIR,
  say: Say = console.log,
): Promise<LabDownReport> {
  if (process.getuid?.() !== 0) {
    throw new LabError("LAB_NOT_ROOT", "the lab must be taken down as root — run `sudo npm run lab -- down`");
  }
  const state = readLabState(stateDir);
  const killed: RecordedProcess[] = [];
  for (let round = 0; round < MAX_KILL_ROUNDS; round++) {
    const targets = new Map<number, RecordedProcess>();
    for (const proc of state.processes) if (isRunning(proc)) targets.set(proc.pid, proc);
    // Workers and helpers of recorded processes (uwsgi and neutron-server workers, RabbitMQ's port
    // programs, nova-compute's privsep daemon) go with them.
    for (const pid of liveDescendants([...targets.keys()])) {
      const start = processStartTime(pid);
      if (start !== null && !targets.has(pid))
        targets.set(pid, { role: "descendant", host: "-", pid, startTime: start });
    }
    for (const host of state.hosts) {
      // An agent restarted by the host's `systemctl restart nova-compute` has a PID `up` never saw.
      const agentPid = liveAgentPid(stateDir, host.name);
      if (agentPid !== null && !targets.has(agentPid)) {
        const start = processStartTime(agentPid);
        if (start !== null)
          targets.set(agentPid, { role: "nova-compute", host: host.name, pid: agentPid, startTime: start });
      }
      for (const pid of qemuPidFiles(stateDir, host.name)) {
        const start = processStartTime(pid);
        if (start !== null && !targets.has(pid))
          targets.set(pid, { role: "qemu", host: host.name, pid, startTime: start });
      }
    }
    for (const namespace of state.namespaces) {
      for (const pid of await namespaceMembers(namespace)) {
        const start = processStartTime(pid);
        if (start !== null && !targets.has(pid)) {
          targets.set(pid, { role: "namespace-member", host: namespace, pid, startTime: start });
        }
      }
    }
    if (targets.size === 0) break;
    const procs = [...targets.values()];
    for (const proc of procs) signal(proc, "SIGTERM");
    const stubborn = await waitForExit(procs, TERM_GRACE_MS);
    for (const proc of stubborn) signal(proc, "SIGKILL");
    const survivors = await waitForExit(stubborn, KILL_WAIT_MS);
    if (survivors.length > 0) {
      throw new LabError(
        "LAB_COMMAND_FAILED",
        `processes survived SIGKILL: ${survivors.map((p) => `${p.role} of ${p.host} pid ${p.pid}`).join(", ")} — check them with \`ps -o pid,stat,cmd -p ${survivors.map((p) => p.pid).join(",")}\`, then run down again`,
      );
    }
    killed.push(...procs);
  }

  const namespacesDeleted: string[] = [];
  for (const namespace of state.namespaces) {
    if (!existsSync(`/run/netns/${namespace}`)) continue;
    await mustRun(["ip", "netns", "delete", namespace], {
      timeoutMs: QUICK_COMMAND_TIMEOUT_MS,
      what: `deleting namespace ${namespace}`,
    });
    namespacesDeleted.push(namespace);
  }
  const linksDeleted: string[] = [];
  for (const link of [...state.links].reverse()) {
    // A veth end vanishes with its peer's namespace; only what is still there is deleted.
    const shown = await runCommand(["ip", "link", "show", link], { timeoutMs: QUICK_COMMAND_TIMEOUT_MS });
    if (shown.code !== 0) continue;
    const deleted = await runCommand(["ip", "link", "delete", link], { timeoutMs: QUICK_COMMAND_TIMEOUT_MS });
    // The kernel removes a veth whose peer's namespace was deleted a moment later, racing this call.
    if (deleted.code !== 0 && !/Cannot find device/.test(deleted.stderr)) {
      throw new LabError(
        "LAB_COMMAND_FAILED",
        `deleting ${link} failed: ${deleted.stderr.trim()} — remove it with \`ip link delete ${link}\`, then run down again`,
      );
    }
    if (deleted.code === 0) linksDeleted.push(link);
  }
  if (
    state.netnsMountCreated &&
    mountPoints().includes("/run/netns") &&
    readdirSync("/run/netns").length === 0
  ) {
    await mustRun(["umount", "/run/netns"], {
      timeoutMs: QUICK_COMMAND_TIMEOUT_MS,
      what: "unmounting /run/netns",
    });
  }

  const leftovers = [
    ...mountPoints().filter(
      (m) => m.startsWith(stateDir) || state.namespaces.some((n) => m === `/run/netns/${n}`),
    ),
    ...state.processes.filter(isRunning).map((p) => `${p.role} pid ${p.pid}`),
  ];
  if (leftovers.length > 0) {
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `down left behind: ${leftovers.join(", ")} — state kept in ${stateDir}; run down again`,
    );
  }
  rmSync(stateDir, { recursive: true, force: true });
  for (const dir of state.openstack?.createdMountPoints ?? []) {
    // Only an empty folder `up` itself created; anything else there is someone else's.
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  }
  say(
    `migbot lab: down — ${killed.length} processes stopped, namespaces ${namespacesDeleted.join(" ") || "none"} and links ${linksDeleted.join(" ") || "none"} deleted, ${stateDir} removed`,
  );
  return { killed, namespacesDeleted, linksDeleted };
}

export interface LabHostStatus {
  name: string;
  address: string;
  release: string;
  hostKeyFingerprint?: string;
  namespace: boolean;
  sshd: boolean;
  libvirtd: boolean;
  /** The host's nova-compute agent runs (whatever PID a restart gave it). */
  novaCompute: boolean;
  /** Domain name → state, from `virsh list --all` on the host. */
  domains: Record<string, string>;
}

export interface LabStatus {
  stateDir: string;
  complete: boolean;
  hosts: LabHostStatus[];
  /** Openstack mode: each control-plane service → running. */
  controlPlane?: Record<string, boolean>;
}

/** What is running, host by host. */
export async function labStatus(stateDir: string = DEFAULT_STATE_DIR): Promise<LabStatus> {
  const state = readLabState(stateDir);
  const hosts: LabHostStatus[] = [];
  for (const h of state.hosts) {
    const running = (role: string) =>
      state.processes.some((p) => p.role === role && p.host === h.name && isRunning(p));
    const sshd = running("sshd");
    const libvirtd = running("libvirtd");
    hosts.push({
      name: h.name,
      address: h.address,
      release: h.release,
      hostKeyFingerprint: h.hostKeyFingerprint,
      namespace: existsSync(`/run/netns/${h.name}`),
      sshd,
      libvirtd,
      novaCompute: liveAgentPid(stateDir, h.name) !== null,
      domains: sshd && libvirtd ? await listDomains(state, h.name) : {},
    });
  }
  const controlPlane = state.openstack
    ? Object.fromEntries(
        state.processes.filter((p) => p.host === "control").map((p) => [p.role, isRunning(p)]),
      )
    : undefined;
  return { stateDir, complete: state.complete, hosts, ...(controlPlane && { controlPlane }) };
}

/** Text for `migbot lab status`. */
export function describeStatus(status: LabStatus): string {
  const mark = (ok: boolean) => (ok ? "up" : "DOWN");
  const rows = status.hosts.map((h) => {
    const domains = Object.entries(h.domains).map(([name, st]) => `${name} (${st})`);
    return `  ${h.name}  ${h.address}  ${h.release.padEnd(7)} netns ${mark(h.namespace)}  sshd ${mark(h.sshd)}  libvirtd ${mark(h.libvirtd)}  nova-compute ${mark(h.novaCompute)}  domains: ${domains.join(", ") || "none"}`;
  });
  const control = status.controlPlane
    ? [
        `  control plane (real OpenStack Zed): ${Object.entries(status.controlPlane)
          .map(([role, ok]) => `${role} ${mark(ok)}`)
          .join("  ")}`,
      ]
    : [];
  return [
    `migbot lab in ${status.stateDir}${status.complete ? "" : " (not completely up)"}:`,
    ...rows,
    ...control,
  ].join("\n");
}

/** True when every host's namespace, sshd and libvirtd are running. */
export function allUp(status: LabStatus): boolean {
  return (
    status.complete &&
    status.hosts.every((h) => h.namespace && h.sshd && h.libvirtd && h.novaCompute) &&
    Object.values(status.controlPlane ?? {}).every(Boolean)
  );
}
