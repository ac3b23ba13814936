/**
 * What the lab's nova-compute agents and the lab data plane (the sandbox's Nova) say to each other.
 * Both ends talk HTTP over Unix sockets in the lab's state dir: a Unix socket is a file, so it
 * crosses the hosts' network namespaces without any traffic on a network (the agent's socket is
 * its "RPC topic", the data plane's socket stands for the conductor and the message queue).
 */
import { request } from "node:http";
import { join } from "node:path";

/** The agent's own socket, in its host's folder: `<stateDir>/<host>/nova-compute.sock`. */
export function agentSocketPath(stateDir: string, host: string): string {
  return join(stateDir, host, "nova-compute.sock");
}

/** The data plane's socket: `<stateDir>/nova-conductor.sock`; absent while no data plane runs. */
export function conductorSocketPath(stateDir: string): string {
  return join(stateDir, "nova-conductor.sock");
}

/** The agent's PID (written at start, removed at a clean stop), in the host's folder. */
export function agentPidPath(stateDir: string, host: string): string {
  return join(stateDir, host, "nova-compute.pid");
}

/** `active` while the agent runs, `failed` when it died on its config (what `systemctl is-active` prints). */
export function agentUnitStatePath(stateDir: string, host: string): string {
  return join(stateDir, host, "nova-compute.unit");
}

/** Nova's live-migration statuses the agent reports. */
export type AgentMigrationStatus =
  | "preparing"
  | "running"
  | "post-migrating"
  | "completed"
  | "error"
  | "cancelled";

export interface AgentMigrationReport {
  migrationId: number;
  domain: string;
  dest: string;
  status: AgentMigrationStatus;
  memoryTotalBytes: number;
  memoryProcessedBytes: number;
  memoryRemainingBytes: number;
  /** Why it ended in error or cancelled, in libvirt's or Nova's words. */
  fault?: string;
  /** The virsh arguments the agent ran, so tests and operators see the derived flags. */
  virshArgs?: string[];
}

export interface AgentHeartbeat {
  host: string;
  pid: number;
  /** ISO time the agent started (a restart shows here). */
  startedAt: string;
  /** e.g. `13.1.4` */
  version: string;
  release: string;
  /** The live-migration behaviour the agent derived from its config at start. */
  autoConverge: boolean;
  postCopy: boolean;
  bandwidthMiBps: number;
  /** `virsh list --all` on the host: domain name → state. */
  domains: Record<string, string>;
  migrations: AgentMigrationReport[];
}

/** What the data plane asks an agent to do (Nova's `live_migration` RPC cast). */
export interface LiveMigrationCast {
  migrationId: number;
  instanceUuid: string;
  domain: string;
  dest: string;
  /** Guest RAM, for Nova's data-size based timeouts and downtime steps. */
  memoryMb: number;
  requestId: string;
}

/** The destination's pre-check (Nova's `check_can_live_migrate_destination`: the CPU comparison). */
export interface PrecheckCall {
  /** The CPU the guest needs, as libvirt CPU XML (the source host's for host-model guests). */
  cpuXml: string;
  requestId: string;
}

export interface PrecheckAnswer {
  compatible: boolean;
  /** virsh's own output (stdout on success, the error lines otherwise). */
  text: string;
}

/** A JSON request over a Unix socket; rejects on a non-2xx answer with its body as the message. */
export function socketRequest<T>(
  socketPath: string,
  method: "GET" | "POST",
  path: string,
  body: unknown,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload === undefined ? {} : { "content-type": "application/json" },
        timeout: timeoutMs,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => {
          if ((res.statusCode ?? 500) >= 300) {
            reject(new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text.slice(0, 500)}`));
            return;
          }
          try {
            resolve((text === "" ? null : JSON.parse(text)) as T);
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** Reads a JSON request body, bounded (these messages are small). */
export async function readJsonBody(
  req: AsyncIterable<Buffer | string>,
  maxBytes = MAX_MESSAGE_BYTES,
): Promise<unknown> {
  let text = "";
  for await (const chunk of req) {
    text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    if (text.length > maxBytes) throw new Error(`request body over ${maxBytes} bytes`);
  }
  return text === "" ? null : JSON.parse(text);
}

/** Heartbeats carry a few domains and migrations; anything bigger is a bug. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
