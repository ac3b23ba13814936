/**
 * The SSH server each sandbox compute host runs: a real SSH-2 endpoint (ssh2's `Server`) that
 * answers only the host command catalogue, so migbot's executor and the stock OpenSSH client talk
 * to the sandbox exactly as they would to a real compute host.
 */
import { generateKeyPairSync as generateNodeKeyPair, randomBytes } from "node:crypto";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import ssh2, { type Connection, type ParsedKey, type ServerChannel } from "ssh2";
import type { HostCommand } from "../hosts/catalogue";
import { parseCommandLine, tokenize } from "../hosts/catalogue";
import { sshFingerprint } from "../hosts/known-hosts";
import type { CommandResult } from "../hosts/types";
import { type Logger, silentLogger } from "../log";

export type { CommandResult };

// ssh2 is CommonJS; under plain Node ESM (tsx) only its default export carries `Server` and `utils`.
const { Server, utils } = ssh2;
export interface CommandContext {
  stdin: string;
  sudo: boolean;
  user: string;
}
export type CommandHandler = (
  command: HostCommand,
  ctx: CommandContext,
) => Promise<CommandResult> | CommandResult;

export interface SandboxSshServerOptions {
  /** e.g. "compute-3", used in logs and messages. */
  hostName: string;
  /** OpenSSH private host key; generated (ed25519) when absent. */
  hostKeyPem?: string;
  /** OpenSSH public key lines allowed to log in (any user name). */
  authorizedKeys: string[];
  handler: CommandHandler;
  /** 0 / absent = a free port on 127.0.0.1. */
  port?: number;
  log?: Logger;
}

export interface SandboxSshServer {
  address: "127.0.0.1";
  port: number;
  /** "SHA256:<base64 without padding>" exactly as `ssh-keygen -lf` prints. */
  hostKeyFingerprint: string;
  hostKeyPem: string;
  /** Public host key in OpenSSH one-line form. */
  hostKeyPublic: string;
  /** TCP connections accepted since start (tests use it to prove pooling). */
  readonly acceptedConnections: number;
  /** For fault tests: destroy every client socket. */
  dropAllConnections(): void;
  /** For timeout tests: wait this long before answering each command. */
  setResponseDelayMs(ms: number): void;
  close(): Promise<void>;
}

/**
 * Largest stdin a command may send (nova.conf files and CPU XML are a few hundred KiB at most);
 * past it the command is refused instead of buffering without bound.
 */
export const MAX_STDIN_BYTES = 16 * 1024 * 1024;

function sshString(data: Buffer | string): Buffer {
  const body = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body]);
}

function uint32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return out;
}

/**
 * Ed25519 key pair in OpenSSH formats, with the public key's SHA256 fingerprint.
 *
 * Encoded here from node:crypto's raw key bytes rather than with ssh2's `generateKeyPairSync`,
 * which drops a leading zero byte of the key (about one key in 300 comes out unparsable).
 */
export function generateKeyPair(comment = "migbot-sandbox"): {
  privatePem: string;
  publicLine: string;
  fingerprint: string;
} {
  const { publicKey, privateKey } = generateNodeKeyPair("ed25519");
  const publicRaw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  const seed = Buffer.from(privateKey.export({ format: "jwk" }).d!, "base64url");
  const blob = Buffer.concat([sshString("ssh-ed25519"), sshString(publicRaw)]);
  const check = randomBytes(4).readUInt32BE();
  let section = Buffer.concat([
    uint32(check),
    uint32(check),
    sshString("ssh-ed25519"),
    sshString(publicRaw),
    sshString(Buffer.concat([seed, publicRaw])),
    sshString(comment),
  ]);
  // The unencrypted private section is padded with 1, 2, 3, … to the cipher block size (8 for "none").
  const padding = (8 - (section.length % 8)) % 8;
  section = Buffer.concat([section, Buffer.from(Array.from({ length: padding }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    uint32(1),
    sshString(blob),
    sshString(section),
  ]);
  const base64 = body.toString("base64").replace(/.{70}/g, "$&\n").replace(/\n$/, "");
  return {
    privatePem: `-----BEGIN OPENSSH PRIVATE KEY-----\n${base64}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicLine: `ssh-ed25519 ${blob.toString("base64")} ${comment}`,
    fingerprint: sshFingerprint(blob),
  };
}

function parseOne(text: string, what: string): ParsedKey {
  const parsed = utils.parseKey(text);
  if (parsed instanceof Error) throw new Error(`${what}: ${parsed.message}`);
  return Array.isArray(parsed) ? parsed[0]! : parsed;
}

/** What real bash prints for an unknown first word, with control characters made harmless. */
function firstWordOf(line: string): string {
  const words = tokenize(line);
  const first = words?.[0] ?? line.trim().split(/\s+/)[0] ?? "";
  return first.replace(/[\x00-\x1f\x7f]/g, "?").slice(0, 200);
}

/** Which field of a stdin-taking command receives the bytes read from the channel. */
function withStdin(command: HostCommand, stdin: string): HostCommand {
  switch (command.kind) {
    case "virsh-cpu-compare":
    case "virsh-hypervisor-cpu-compare":
      return { ...command, cpuXml: stdin };
    case "virsh-cpu-baseline":
    case "virsh-hypervisor-cpu-baseline":
      return { ...command, cpusXml: stdin };
    case "write-file":
      return { ...command, content: stdin };
    default:
      return command;
  }
}

function takesStdin(command: HostCommand): boolean {
  return (
    command.kind === "virsh-cpu-compare" ||
    command.kind === "virsh-cpu-baseline" ||
    command.kind === "virsh-hypervisor-cpu-compare" ||
    command.kind === "virsh-hypervisor-cpu-baseline" ||
    command.kind === "write-file"
  );
}

/** Reads a channel until EOF; null when the client sent more than {@link MAX_STDIN_BYTES}. */
function readUntilEof(stream: ServerChannel): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let overflow = false;
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_STDIN_BYTES) overflow = true;
      else chunks.push(chunk);
    });
    const done = () => resolve(overflow ? null : Buffer.concat(chunks).toString("utf8"));
    stream.once("end", done);
    stream.once("close", done);
  });
}

/** Starts an SSH server on 127.0.0.1 that answers catalogue commands through `opts.handler`. */
export async function startSandboxSshServer(opts: SandboxSshServerOptions): Promise<SandboxSshServer> {
  const log = (opts.log ?? silentLogger).child({ host: opts.hostName });
  const hostKeyPem = opts.hostKeyPem ?? generateKeyPair(`${opts.hostName}-host-key`).privatePem;
  const hostKey = parseOne(hostKeyPem, `host key of ${opts.hostName}`);
  const hostKeyBlob = hostKey.getPublicSSH();
  const hostKeyPublic = `${hostKey.type} ${hostKeyBlob.toString("base64")}`;
  const hostKeyFingerprint = sshFingerprint(hostKeyBlob);
  const authorized = opts.authorizedKeys.map((line, i) => parseOne(line, `authorized key ${i + 1}`));

  let responseDelayMs = 0;
  let acceptedConnections = 0;
  const sockets = new Set<Socket>();

  const ssh = new Server({ hostKeys: [hostKeyPem] }, (client: Connection) => {
    let user = "";
    client.on("error", (err) => log.debug("ssh client error", { err: err.message }));
    client.on("authentication", (ctx) => {
      if (ctx.method !== "publickey") {
        ctx.reject(["publickey"]);
        return;
      }
      const key = authorized.find((k) => k.getPublicSSH().equals(ctx.key.data));
      if (key === undefined) {
        log.info("public key refused", { user: ctx.username, fingerprint: sshFingerprint(ctx.key.data) });
        ctx.reject(["publickey"]);
        return;
      }
      // Without a signature the client is only asking whether this key would do.
      if (ctx.signature === undefined || ctx.blob === undefined) {
        ctx.accept();
        return;
      }
      if (!key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) {
        log.warn("bad public key signature", { user: ctx.username });
        ctx.reject(["publickey"]);
        return;
      }
      user = ctx.username;
      ctx.accept();
    });
    client.on("ready", () => {
      log.debug("ssh login", { user });
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        // Interactive use is not something a compute host offers migbot.
        session.on("pty", (_accept, reject) => reject?.());
        session.on("shell", (accept) => {
          const stream = accept();
          stream.stderr.write(`${opts.hostName}: interactive shells are not available; run one command\n`);
          stream.exit(1);
          stream.end();
        });
        session.on("exec", (accept, _reject, info) => {
          const stream = accept();
          void answerExec(stream, info.command, user).catch((err: unknown) => {
            log.error("exec failed", { err: err instanceof Error ? err.message : String(err) });
          });
        });
      });
    });
  });

  async function answerExec(stream: ServerChannel, line: string, user: string): Promise<void> {
    let closed = false;
    stream.once("close", () => {
      closed = true;
    });
    const finish = (result: CommandResult) => {
      if (closed) return;
      if (result.stdout) stream.write(result.stdout);
      if (result.stderr) stream.stderr.write(result.stderr);
      stream.exit(result.exitCode);
      stream.end();
    };
    const parsed = parseCommandLine(line);
    if (parsed === null) {
      stream.resume();
      log.info("command not in catalogue", { user, word: firstWordOf(line) });
      finish({
        stdout: "",
        stderr: `bash: line 1: ${firstWordOf(line)}: command not found\n`,
        exitCode: 127,
      });
      return;
    }
    let command = parsed.command;
    let stdin = "";
    if (takesStdin(command)) {
      const read = await readUntilEof(stream);
      if (read === null) {
        finish({ stdout: "", stderr: `${opts.hostName}: input too large\n`, exitCode: 1 });
        return;
      }
      stdin = read;
      command = withStdin(command, stdin);
    } else {
      stream.resume();
    }
    if (responseDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, responseDelayMs));
    if (closed) return;
    let result: CommandResult;
    try {
      result = await opts.handler(command, { stdin, sudo: parsed.sudo, user });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.error("host handler failed", { kind: command.kind, err: message });
      result = { stdout: "", stderr: `${opts.hostName}: ${message}\n`, exitCode: 1 };
    }
    finish(result);
  }

  // Our own listener so every socket is known: fault tests destroy them on demand.
  const tcp: NetServer = createServer((socket) => {
    acceptedConnections++;
    // As OpenSSH does: without it, Nagle plus the client's delayed ACKs add ~40 ms per reply.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    ssh.injectSocket(socket);
  });
  ssh.on("error", (err: Error) => log.warn("ssh server error", { err: err.message }));

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(opts.port ?? 0, "127.0.0.1", () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  const address = tcp.address();
  if (address === null || typeof address === "string") throw new Error("ssh server has no TCP address");
  log.info("sandbox ssh server listening", { port: address.port, fingerprint: hostKeyFingerprint });

  const dropAllConnections = () => {
    for (const socket of sockets) socket.destroy();
  };

  return {
    address: "127.0.0.1",
    port: address.port,
    hostKeyFingerprint,
    hostKeyPem,
    hostKeyPublic,
    get acceptedConnections() {
      return acceptedConnections;
    },
    dropAllConnections,
    setResponseDelayMs(ms: number) {
      responseDelayMs = Math.max(0, ms);
    },
    close: () =>
      new Promise<void>((resolve) => {
        dropAllConnections();
        tcp.close(() => resolve());
      }),
  };
}
