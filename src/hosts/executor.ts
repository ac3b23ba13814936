/**
 * Runs catalogue commands on compute hosts over SSH (ssh2): one pooled connection per host, a
 * bounded number of channels on it, pinned host keys, and timeouts and size limits on everything.
 *
 * Command output and stdin (nova.conf holds database passwords) are never logged.
 */
import { readFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import ssh2, {
  type ClientChannel,
  type ConnectConfig,
  type ServerHostKeyAlgorithm,
  type Client as SshClient,
} from "ssh2";
import { type Logger, silentLogger } from "../log";
import { type HostCommand, type HostCommandKind, type RenderedCommand, renderCommand } from "./catalogue";
import {
  asHostError,
  HostAuthFailedError,
  HostCommandFailedError,
  type HostError,
  HostKeyMismatchError,
  HostKeyUnknownError,
  HostNotInInventoryError,
  HostOutputTooLargeError,
  HostTimeoutError,
  HostUnreachableError,
} from "./errors";
import type { HostEntry } from "./inventory";
import {
  type KnownHostsFile,
  knownHostFingerprints,
  normalizeFingerprint,
  parseKnownHosts,
  sshFingerprint,
} from "./known-hosts";
import type { CommandResult, HostExecutor, RunOptions } from "./types";

export type { CommandResult, HostExecutor, RunOptions } from "./types";

// ssh2 is CommonJS; under plain Node ESM (tsx) only its default export carries `Client` and `utils`.
const { Client, utils } = ssh2;

/** TCP connect + SSH handshake + authentication must finish within this. */
export const SSH_CONNECT_TIMEOUT_MS = 10_000;
/** A command (from channel open to exit) must finish within this unless the call says otherwise. */
export const SSH_COMMAND_TIMEOUT_MS = 60_000;
/** SSH-level keepalive on pooled connections, so a dead peer is noticed between commands. */
export const SSH_KEEPALIVE_INTERVAL_MS = 15_000;
/** Unanswered keepalives before the connection is declared lost. */
export const SSH_KEEPALIVE_COUNT_MAX = 3;
/** Channels open at once on one host's connection; OpenSSH's sshd allows 10 (MaxSessions). */
export const SSH_MAX_CHANNELS_PER_HOST = 8;
/** stdout + stderr of one command; more is refused (nova-compute logs can be huge). */
export const SSH_MAX_OUTPUT_BYTES = 4 * 1024 * 1024;
/** A pooled connection unused this long is closed; the next command reconnects. */
export const SSH_IDLE_CLOSE_MS = 5 * 60_000;
/** How long `close()` waits for connections to say goodbye before destroying them. */
export const SSH_CLOSE_WAIT_MS = 2_000;

/**
 * Host key algorithms migbot accepts, most preferred first: ssh2 1.17's defaults without `ssh-rsa`,
 * whose signatures are SHA-1 (OpenSSH refuses it by default since 8.8). An RSA host key still
 * works through rsa-sha2-512/256 (RFC 8332, OpenSSH 7.2+); a host that offers only `ssh-rsa` is
 * refused with HOST_KEY_ALGORITHM_REFUSED.
 */
export const SSH_HOST_KEY_ALGORITHMS: readonly ServerHostKeyAlgorithm[] = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
];

export const DEFAULT_SSH_PORT = 22;
export const DEFAULT_SSH_USER = "migbot";

export interface SshExecutorOptions {
  /** Private key file for hosts whose inventory entry names none. @defaultValue none: use the ssh-agent */
  privateKeyPath?: string;
  /** Passphrase of encrypted private keys. Never logged. @defaultValue none */
  passphrase?: string;
  /** ssh-agent socket used when no private key file is configured. @defaultValue `env.SSH_AUTH_SOCK` */
  agentSocket?: string;
  /** OpenSSH known_hosts file whose entries pin host keys, in addition to `hostKeyFingerprints`. @defaultValue none */
  knownHostsPath?: string;
  /** @defaultValue {@link SSH_CONNECT_TIMEOUT_MS} */
  connectTimeoutMs?: number;
  /** @defaultValue {@link SSH_COMMAND_TIMEOUT_MS} */
  commandTimeoutMs?: number;
  /** 0 disables keepalives. @defaultValue {@link SSH_KEEPALIVE_INTERVAL_MS} */
  keepaliveIntervalMs?: number;
  /** @defaultValue {@link SSH_KEEPALIVE_COUNT_MAX} */
  keepaliveCountMax?: number;
  /** @defaultValue {@link SSH_MAX_CHANNELS_PER_HOST} */
  maxChannelsPerHost?: number;
  /** @defaultValue {@link SSH_MAX_OUTPUT_BYTES} */
  maxOutputBytes?: number;
  /** 0 keeps idle connections open until `close()`. @defaultValue {@link SSH_IDLE_CLOSE_MS} */
  idleCloseMs?: number;
  /** Reuse one connection per host; `false` opens (and closes) a connection per command. @defaultValue true */
  pool?: boolean;
  /** Where `SSH_AUTH_SOCK` is read when `agentSocket` is not given (the config passes it). @defaultValue none: no agent */
  env?: Record<string, string | undefined>;
  /** @defaultValue silent */
  log?: Logger;
}

/** One SSH connection and the commands currently running on it. */
interface Live {
  client: SshClient;
  alive: boolean;
  /** Called with a reason when the connection drops, once per command in flight. */
  inflight: Set<(reason: string) => void>;
}

/** Per-host state: the pooled connection and the channel semaphore. */
interface HostState {
  entry: HostEntry;
  where: string;
  user: string;
  allowed: string[];
  revoked: string[];
  active: number;
  waiters: Array<() => void>;
  conn?: Live;
  connecting?: Promise<Live>;
  idleTimer?: NodeJS.Timeout;
}

/** The channel never opened, so the command cannot have run: safe to try once more on a new connection. */
class ChannelNotOpened extends Error {}

function signalExitCode(signal: string | undefined): number {
  const number = signal ? (osConstants.signals as Record<string, number>)[signal] : undefined;
  return number === undefined ? 255 : 128 + number;
}

/** The SSH executor: see the module comment. Construct once per process and share it. */
export class SshExecutor implements HostExecutor {
  private readonly hosts = new Map<string, HostState>();
  private readonly live = new Set<Live>();
  private readonly log: Logger;
  private readonly connectTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly keepaliveIntervalMs: number;
  private readonly keepaliveCountMax: number;
  private readonly maxChannels: number;
  private readonly maxOutputBytes: number;
  private readonly idleCloseMs: number;
  private readonly pool: boolean;
  private readonly agentSocket: string | undefined;
  private readonly keyCache = new Map<string, Buffer>();
  private closed = false;

  constructor(
    entries: HostEntry[],
    private readonly opts: SshExecutorOptions = {},
  ) {
    this.log = (opts.log ?? silentLogger).child({ component: "ssh" });
    this.connectTimeoutMs = opts.connectTimeoutMs ?? SSH_CONNECT_TIMEOUT_MS;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? SSH_COMMAND_TIMEOUT_MS;
    this.keepaliveIntervalMs = opts.keepaliveIntervalMs ?? SSH_KEEPALIVE_INTERVAL_MS;
    this.keepaliveCountMax = opts.keepaliveCountMax ?? SSH_KEEPALIVE_COUNT_MAX;
    this.maxChannels = opts.maxChannelsPerHost ?? SSH_MAX_CHANNELS_PER_HOST;
    this.maxOutputBytes = opts.maxOutputBytes ?? SSH_MAX_OUTPUT_BYTES;
    this.idleCloseMs = opts.idleCloseMs ?? SSH_IDLE_CLOSE_MS;
    this.pool = opts.pool ?? true;
    this.agentSocket = opts.agentSocket ?? opts.env?.SSH_AUTH_SOCK;
    if (!(this.maxChannels >= 1)) throw new Error("maxChannelsPerHost must be at least 1");

    let knownHosts: KnownHostsFile = { entries: [], skipped: [] };
    if (opts.knownHostsPath !== undefined) {
      let text: string;
      try {
        text = readFileSync(opts.knownHostsPath, "utf8");
      } catch (err) {
        throw new Error(
          `cannot read the known_hosts file ${opts.knownHostsPath} (${(err as NodeJS.ErrnoException).code ?? err}): fix knownHostsPath or create the file`,
        );
      }
      knownHosts = parseKnownHosts(text);
      for (const note of knownHosts.skipped) this.log.info("known_hosts line skipped", { note });
    }

    for (const entry of entries) {
      if (this.hosts.has(entry.name)) throw new Error(`host '${entry.name}' appears twice in the inventory`);
      const port = entry.port ?? DEFAULT_SSH_PORT;
      const fromFile = knownHostFingerprints(knownHosts, [entry.address, entry.name], port);
      const allowed = [...(entry.hostKeyFingerprints ?? []).map(normalizeFingerprint), ...fromFile.allowed];
      this.hosts.set(entry.name, {
        entry,
        where: `${entry.address}:${port}`,
        user: entry.user ?? DEFAULT_SSH_USER,
        allowed: [...new Set(allowed)],
        revoked: fromFile.revoked,
        active: 0,
        waiters: [],
      });
    }
  }

  async run(host: string, command: HostCommand, opts: RunOptions = {}): Promise<CommandResult> {
    const state = this.hosts.get(host);
    if (state === undefined) throw new HostNotInInventoryError(host, [...this.hosts.keys()]);
    let rendered: RenderedCommand;
    try {
      // Validation happens here, before any connection: a bad argument never reaches a host.
      rendered = renderCommand(command, { sudo: state.entry.sudo ?? false });
    } catch (err) {
      throw asHostError(err, host);
    }
    await this.acquire(state);
    try {
      return await this.runWithConnection(state, command.kind, rendered, opts);
    } finally {
      this.release(state);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const goodbyes: Promise<void>[] = [];
    for (const state of this.hosts.values()) clearTimeout(state.idleTimer);
    for (const live of this.live) {
      goodbyes.push(
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            live.client.destroy();
            resolve();
          }, SSH_CLOSE_WAIT_MS);
          live.client.once("close", () => {
            clearTimeout(timer);
            resolve();
          });
          live.client.end();
        }),
      );
    }
    await Promise.all(goodbyes);
  }

  private acquire(state: HostState): Promise<void> {
    clearTimeout(state.idleTimer);
    state.idleTimer = undefined;
    if (state.active < this.maxChannels) {
      state.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => state.waiters.push(resolve));
  }

  private release(state: HostState): void {
    const next = state.waiters.shift();
    // The slot passes straight to the next queued command, so `active` stays the same.
    if (next) {
      next();
      return;
    }
    state.active--;
    if (state.active === 0 && this.pool && this.idleCloseMs > 0 && state.conn) {
      const conn = state.conn;
      state.idleTimer = setTimeout(() => {
        if (state.conn === conn && state.active === 0) {
          this.log.debug("closing idle ssh connection", { host: state.entry.name });
          conn.client.end();
        }
      }, this.idleCloseMs);
      state.idleTimer.unref();
    }
  }

  private async runWithConnection(
    state: HostState,
    kind: HostCommandKind,
    rendered: RenderedCommand,
    opts: RunOptions,
  ): Promise<CommandResult> {
    // Two attempts at most: the second only when the first connection died before the channel opened.
    for (let attempt = 1; ; attempt++) {
      const live = await this.connection(state);
      try {
        return await this.exec(state, live, kind, rendered, opts);
      } catch (err) {
        if (!(err instanceof ChannelNotOpened)) throw err;
        this.forget(state, live);
        if (attempt >= 2) throw new HostUnreachableError(state.entry.name, state.where, err.message, err);
        this.log.info("ssh connection was stale, reconnecting", {
          host: state.entry.name,
          reason: err.message,
        });
      } finally {
        if (!this.pool) live.client.end();
      }
    }
  }

  private forget(state: HostState, live: Live): void {
    live.alive = false;
    if (state.conn === live) state.conn = undefined;
    live.client.end();
  }

  private connection(state: HostState): Promise<Live> {
    if (this.closed) {
      return Promise.reject(
        new HostUnreachableError(state.entry.name, state.where, "the SSH executor was closed"),
      );
    }
    if (!this.pool) return this.connect(state);
    if (state.conn?.alive) return Promise.resolve(state.conn);
    if (state.connecting) return state.connecting;
    const connecting = this.connect(state)
      .then((live) => {
        state.conn = live;
        return live;
      })
      .finally(() => {
        state.connecting = undefined;
      });
    state.connecting = connecting;
    return connecting;
  }

  private authConfig(state: HostState): Pick<ConnectConfig, "privateKey" | "passphrase" | "agent"> {
    const name = state.entry.name;
    const keyPath = state.entry.privateKeyPath ?? this.opts.privateKeyPath;
    if (keyPath !== undefined) {
      let key = this.keyCache.get(keyPath);
      if (key === undefined) {
        try {
          key = readFileSync(keyPath);
        } catch (err) {
          throw new HostAuthFailedError(
            name,
            state.user,
            `cannot read the private key file ${keyPath} (${(err as NodeJS.ErrnoException).code ?? "error"})`,
          );
        }
        // Parse once up front: a wrong passphrase or a broken file is an auth problem, said plainly.
        const parsed = utils.parseKey(key, this.opts.passphrase);
        if (parsed instanceof Error) {
          throw new HostAuthFailedError(
            name,
            state.user,
            `cannot use the private key file ${keyPath} (${parsed.message}; check the file and its passphrase)`,
          );
        }
        this.keyCache.set(keyPath, key);
      }
      return this.opts.passphrase === undefined
        ? { privateKey: key }
        : { privateKey: key, passphrase: this.opts.passphrase };
    }
    if (this.agentSocket) return { agent: this.agentSocket };
    throw new HostAuthFailedError(
      name,
      state.user,
      "no private key is configured (privateKeyPath) and no ssh-agent is available (SSH_AUTH_SOCK is not set)",
    );
  }

  private connect(state: HostState): Promise<Live> {
    const name = state.entry.name;
    const client = new Client();
    const live: Live = { client, alive: false, inflight: new Set() };
    let keyError: HostError | undefined;

    const hostVerifier = (key: Buffer): boolean => {
      const presented = sshFingerprint(key);
      if (state.revoked.includes(presented)) {
        keyError = new HostKeyMismatchError(
          name,
          state.allowed.length ? state.allowed : ["(revoked)"],
          presented,
        );
      } else if (state.allowed.length === 0) {
        keyError = new HostKeyUnknownError(name, presented);
      } else if (!state.allowed.includes(presented)) {
        keyError = new HostKeyMismatchError(name, state.allowed, presented);
      }
      if (keyError) this.log.warn("ssh host key refused", { host: name, code: keyError.code, presented });
      return keyError === undefined;
    };

    return new Promise<Live>((resolve, reject) => {
      const lost = (reason: string) => {
        const wasAlive = live.alive;
        live.alive = false;
        this.live.delete(live);
        if (state.conn === live) state.conn = undefined;
        if (wasAlive) this.log.info("ssh connection closed", { host: name, reason });
        for (const notify of live.inflight) notify(reason);
        live.inflight.clear();
      };
      client.on("ready", () => {
        live.alive = true;
        this.log.debug("ssh connected", { host: name, where: state.where });
        resolve(live);
      });
      client.on("error", (err: Error & { level?: string }) => {
        if (!live.alive) {
          if (keyError) reject(keyError);
          else if (err.level === "client-timeout")
            reject(new HostTimeoutError(name, "connect", this.connectTimeoutMs));
          else reject(asHostError(err, name, state.where, state.user, SSH_HOST_KEY_ALGORITHMS));
        }
        lost(err.message);
      });
      client.on("close", () => {
        if (!live.alive) {
          reject(
            keyError ??
              new HostUnreachableError(name, state.where, "the connection closed during the SSH handshake"),
          );
        }
        lost("connection closed");
      });
      try {
        client.connect({
          host: state.entry.address,
          port: state.entry.port ?? DEFAULT_SSH_PORT,
          username: state.user,
          ...this.authConfig(state),
          hostVerifier,
          algorithms: { serverHostKey: [...SSH_HOST_KEY_ALGORITHMS] },
          readyTimeout: this.connectTimeoutMs,
          keepaliveInterval: this.keepaliveIntervalMs,
          keepaliveCountMax: this.keepaliveCountMax,
        });
        // Small request/response packets: Nagle plus delayed ACKs would add ~40 ms to every command.
        client.setNoDelay(true);
        this.live.add(live);
      } catch (err) {
        // ssh2 throws synchronously for an unparsable key; its message never includes the key.
        client.destroy();
        reject(asHostError(err, name, state.where, state.user));
      }
    });
  }

  private exec(
    state: HostState,
    live: Live,
    kind: HostCommandKind,
    rendered: RenderedCommand,
    opts: RunOptions,
  ): Promise<CommandResult> {
    const name = state.entry.name;
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    return new Promise<CommandResult>((resolve, reject) => {
      let settled = false;
      let channel: ClientChannel | undefined;
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let outputBytes = 0;
      let exitCode: number | undefined;

      const settle = (err: Error | null, result?: CommandResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        live.inflight.delete(onLost);
        if (err) {
          // Closing the channel stops the remote command (sshd hangs up on it) and frees the slot.
          try {
            channel?.close();
          } catch {
            // The connection is already gone; nothing left to close.
          }
          reject(err);
        } else resolve(result!);
      };
      const onLost = (reason: string) => {
        if (channel === undefined) settle(new ChannelNotOpened(reason));
        else
          settle(
            new HostUnreachableError(
              name,
              state.where,
              `the connection dropped while ${kind} was running (${reason})`,
            ),
          );
      };
      const timer = setTimeout(
        () => settle(new HostTimeoutError(name, "command", timeoutMs, kind)),
        timeoutMs,
      );
      live.inflight.add(onLost);

      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        outputBytes += chunk.length;
        if (outputBytes > this.maxOutputBytes) {
          settle(new HostOutputTooLargeError(name, kind, this.maxOutputBytes));
          return;
        }
        into.push(chunk);
      };

      this.log.debug("ssh command", { host: name, kind });
      try {
        live.client.exec(rendered.line, (err, ch) => {
          if (err) {
            settle(new ChannelNotOpened(err.message));
            return;
          }
          if (settled) {
            ch.close();
            return;
          }
          channel = ch;
          ch.on("data", collect(stdout));
          ch.stderr.on("data", collect(stderr));
          ch.on("exit", (code: number | null, signal?: string) => {
            exitCode = code ?? signalExitCode(signal);
          });
          ch.on("close", () => {
            if (exitCode === undefined) {
              settle(new HostUnreachableError(name, state.where, `${kind} ended without an exit status`));
              return;
            }
            const result = {
              stdout: Buffer.concat(stdout).toString("utf8"),
              stderr: Buffer.concat(stderr).toString("utf8"),
              exitCode,
            };
            if (exitCode !== 0 && !opts.allowNonZeroExit) {
              settle(new HostCommandFailedError(name, kind, exitCode, result.stderr.trim(), result.stdout));
            } else settle(null, result);
          });
          // stdin (when the command takes one), then EOF so the remote side stops reading.
          if (rendered.stdin !== undefined) ch.end(rendered.stdin);
          else ch.end();
        });
      } catch (err) {
        settle(new ChannelNotOpened(err instanceof Error ? err.message : String(err)));
      }
    });
  }
}
