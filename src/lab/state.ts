/**
 * What `up` made, written to `<state-dir>/state.json` after every step so that `down` can undo
 * exactly that — processes by recorded PID (checked against their start time, so a reused PID is
 * never signalled), namespaces and links by recorded name.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";

export type ProcessRole = "sshd" | "libvirtd" | "nova-compute" | "qemu" | "namespace-member";

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

/** True when the recorded process is still the same running process. */
export function isRunning(proc: RecordedProcess): boolean {
  return processStartTime(proc.pid) === proc.startTime;
}
