/**
 * What `up` made, written to `<state-dir>/state.json` after every step so that `down` can undo
 * exactly that — processes by recorded PID (checked against their start time, so a reused PID is
 * never signalled), namespaces and links by recorded name.
 */
import { readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";

export type ProcessRole =
  | "sshd"
  | "libvirtd"
  | "nova-compute"
  | "qemu"
  | "namespace-member"
  | ControlPlaneRole
  /** A child of a recorded process (uwsgi workers, neutron-server workers, RabbitMQ's port programs). */
  | "descendant";

/** The real OpenStack control plane's processes (`up --openstack`), recorded under host `control`. */
export type ControlPlaneRole =
  | "mariadb"
  | "epmd"
  | "rabbitmq"
  | "keystone"
  | "placement"
  | "glance-api"
  | "neutron-server"
  | "nova-api"
  | "nova-conductor"
  | "nova-scheduler";

/** What `up --openstack` adds to the record. */
export interface LabOpenStackState {
  /** Where the control plane's config, databases, logs and images live (inside the state dir). */
  dir: string;
  /** Mount points `up` had to create in the root filesystem; `down` removes them when empty. */
  createdMountPoints: string[];
}

export interface RecordedProcess {
  role: ProcessRole;
  host: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot): tells this process from a later one with the same PID. */
  startTime: string;
}

export interface LabHostState {
  name: string;
  address: string;
  release: string;
  /** Host key fingerprint, `SHA256:…`. */
  hostKeyFingerprint?: string;
}

export interface LabState {
  version: 1;
  stateDir: string;
  createdAt: string;
  hosts: LabHostState[];
  /** Network namespaces `up` added (deleted by `down`). */
  namespaces: string[];
  /** Root-namespace links `up` added: the bridge and the veth ends. */
  links: string[];
  /** `ip netns add` turns /run/netns into a mount point; true when it was not one before `up`. */
  netnsMountCreated: boolean;
  processes: RecordedProcess[];
  /** Present when the lab runs real OpenStack (`up --openstack`). */
  openstack?: LabOpenStackState;
  /** Set once every host answers; `status` reports a half-made lab otherwise. */
  complete: boolean;
}

/** Writes state.json atomically (temp file + rename), so a crash never leaves half a record. */
export function saveState(path: string, state: LabState): void {
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, path);
}

/** Reads state.json, or null when there is none. */
export function loadState(path: string): LabState | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const state = JSON.parse(text) as LabState;
  if (state.version !== 1) throw new Error(`${path}: unknown lab state version ${String(state.version)}`);
  return state;
}

/** Field 22 (starttime) of /proc/<pid>/stat, or null when there is no such process. */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses; fields after the last ')' are plain.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = rest[0];
  if (state === "Z" || state === "X") return null;
  return rest[19] ?? null;
}

/** Records a live PID with its start time; throws when the process is already gone. */
export function recordProcess(role: ProcessRole, host: string, pid: number): RecordedProcess {
  const startTime = processStartTime(pid);
  if (startTime === null) throw new Error(`${role} of ${host} (pid ${pid}) exited right after starting`);
  return { role, host, pid, startTime };
}

/** Field 4 of /proc/<pid>/stat (the parent PID), or null when there is no such process. */
export function parentPid(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  return Number.isInteger(ppid) ? ppid : null;
}

/** Every live process below the given ones (children, grandchildren, ...), from /proc. */
export function liveDescendants(roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const ppid = parentPid(pid);
    if (ppid === null) continue;
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const found: number[] = [];
  const queue = [...roots];
  const seen = new Set(roots);
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      if (seen.has(child)) continue;
      seen.add(child);
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** True when the recorded process is still the same running process. */
export function isRunning(proc: RecordedProcess): boolean {
  return processStartTime(proc.pid) === proc.startTime;
}
