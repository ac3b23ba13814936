/**
 * The executor against a real OpenSSH sshd and real bash/coreutils, started by this suite on a free
 * loopback port. Proves quoting, the file commands behind nova.conf edits, exit codes and host key
 * pinning against the real thing rather than against our own sandbox server.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";
import { Client } from "ssh2";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { shellQuote } from "../../src/hosts/catalogue";
import { HostError, HostErrorCode } from "../../src/hosts/errors";
import type { SshExecutor } from "../../src/hosts/executor";
import type { HostEntry } from "../../src/hosts/inventory";
import { parseKnownHosts } from "../../src/hosts/known-hosts";
import { fixturePath, readFixture } from "../support/fixtures";
import { freePort, requireProgram } from "../support/programs";
import { executorFor, makeClientKeys } from "./harness";

/** sshd must accept connections within this after it is spawned. */
const SSHD_START_TIMEOUT_MS = 10_000;
const SSHD_POLL_INTERVAL_MS = 50;
/** Polls (of SSHD_POLL_INTERVAL_MS) to wait for an expected sshd log line. */
const SSHD_LOG_WAIT_POLLS = 40;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function findSshd(): { sshd: string; keygen: string } | { missing: string } {
  try {
    return {
      sshd: requireProgram("sshd", "openssh-server"),
      keygen: requireProgram("ssh-keygen", "openssh-client"),
    };
  } catch (err) {
    // In CI nothing may be skipped: the suite fails with requireProgram's install hint.
    if (process.env.CI === "true") throw err;
    return { missing: (err as Error).message };
  }
}

const found = findSshd();
const skipReason = "missing" in found ? found.missing : undefined;
if (skipReason) console.warn(`openssh.test.ts skipped: ${skipReason}`);

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

interface SshdOptions {
  hostKeyType: "ed25519" | "rsa";
  authorizedKeyLine: string;
  /** Extra sshd_config lines, e.g. `HostKeyAlgorithms ssh-rsa`. */
  extraConfig?: string[];
  onLog?: (chunk: string) => void;
}

/** A real sshd on a free loopback port, with a fresh host key in `dir`, accepting one client key. */
async function startSshd(
  programs: { sshd: string; keygen: string },
  dir: string,
  opts: SshdOptions,
): Promise<{ process: ChildProcess; port: number; fingerprint: string }> {
  mkdirSync("/run/sshd", { recursive: true });
  const hostKey = join(dir, `ssh_host_${opts.hostKeyType}_key`);
  const made = spawnSync(programs.keygen, ["-q", "-t", opts.hostKeyType, "-N", "", "-f", hostKey]);
  if (made.status !== 0) throw new Error(`ssh-keygen failed: ${made.stderr}`);
  const listed = spawnSync(programs.keygen, ["-lf", `${hostKey}.pub`], { encoding: "utf8" });
  const fingerprint = listed.stdout.split(" ")[1]!;
  writeFileSync(join(dir, "authorized_keys"), `${opts.authorizedKeyLine}\n`, { mode: 0o600 });
  const port = await freePort();
  const config = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "UsePAM no",
    "StrictModes no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "PermitRootLogin prohibit-password",
    "LogLevel INFO",
    ...(opts.extraConfig ?? []),
  ].join("\n");
  const configPath = join(dir, "sshd_config");
  writeFileSync(configPath, `${config}\n`);
  let log = "";
  const child = spawn(programs.sshd, ["-D", "-e", "-f", configPath], { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", (chunk) => {
    log += chunk;
    opts.onLog?.(String(chunk));
  });
  const deadline = Date.now() + SSHD_START_TIMEOUT_MS;
  while (!(await canConnect(port))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await stopSshd(child);
      throw new Error(`sshd did not start on 127.0.0.1:${port}: ${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, SSHD_POLL_INTERVAL_MS));
  }
  return { process: child, port, fingerprint };
}

async function stopSshd(child: ChildProcess | undefined): Promise<void> {
  if (child?.pid === undefined || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

async function rejection(promise: Promise<unknown>): Promise<HostError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(HostError);
    return err as HostError;
  }
  throw new Error("expected the command to fail");
}

describe.skipIf(skipReason !== undefined)("SshExecutor against a real OpenSSH sshd", () => {
  const keys = makeClientKeys("migbot-openssh-");
  const dir = keys.dir;
  const work = join(dir, "etc-nova");
  const user = userInfo().username;
  const isRoot = process.getuid?.() === 0;
  let sshd: ChildProcess | undefined;
  let sshdLog = "";
  let port = 0;
  let fingerprint = "";
  let entry: HostEntry;
  let executor: SshExecutor;

  beforeAll(async () => {
    mkdirSync(work);
    const started = await startSshd(found as { sshd: string; keygen: string }, dir, {
      hostKeyType: "ed25519",
      authorizedKeyLine: keys.publicLine,
      onLog: (chunk) => {
        sshdLog += chunk;
      },
    });
    sshd = started.process;
    port = started.port;
    fingerprint = started.fingerprint;
    entry = {
      name: "real-sshd",
      address: "127.0.0.1",
      port,
      user,
      privateKeyPath: keys.keyPath,
      hostKeyFingerprints: [fingerprint],
    };
    executor = executorFor([entry]);
  });

  afterAll(async () => {
    await executor?.close();
    await stopSshd(sshd);
    keys.dispose();
  });

  test("reads a real config file byte for byte; many commands share one login", async () => {
    const path = join(work, "nova-compute.conf");
    const original = readFileSync(
      fixturePath("nova-conf/nova-compute.conf-zed-26.2.2-debian-kvm.conf"),
      "utf8",
    );
    writeFileSync(path, original);
    const before = (sshdLog.match(/Accepted publickey/g) ?? []).length;
    // More than sshd's MaxSessions (10) at once: the executor's 8-channel cap keeps them on one connection.
    const results = await Promise.all(
      Array.from({ length: 12 }, () => executor.run("real-sshd", { kind: "read-file", path })),
    );
    for (const r of results) expect(r).toEqual({ stdout: original, stderr: "", exitCode: 0 });
    // sshd's log line may trail the command results a little; wait for it, bounded.
    const logins = () => (sshdLog.match(/Accepted publickey/g) ?? []).length - before;
    for (let i = 0; i < SSHD_LOG_WAIT_POLLS && logins() < 1; i++) await sleep(SSHD_POLL_INTERVAL_MS);
    expect(logins()).toBe(1);
  });

  test("exit codes and stderr come back from real coreutils", async () => {
    const missing = join(work, "missing.conf");
    const err = await rejection(executor.run("real-sshd", { kind: "read-file", path: missing }));
    expect(err.code).toBe(HostErrorCode.HostCommandFailed);
    expect(err).toMatchObject({ exitCode: 1, stderr: `cat: ${missing}: No such file or directory` });
    const answer = await executor.run(
      "real-sshd",
      { kind: "stat-file", path: missing },
      { allowNonZeroExit: true },
    );
    expect(answer.exitCode).toBe(1);
    expect(answer.stderr).toContain("No such file or directory");
  });

  test("tail-log returns the real last lines of a nova-compute log", async () => {
    const log = readFixture("logs/nova-compute-live-migration-failure-lines.github-issues.log");
    const path = join(work, "nova-compute.log");
    writeFileSync(path, log);
    const r = await executor.run("real-sshd", { kind: "tail-log", path, lines: 3 });
    const lines = log.endsWith("\n") ? log.slice(0, -1).split("\n") : log.split("\n");
    expect(r.stdout).toBe(`${lines.slice(-3).join("\n")}${log.endsWith("\n") ? "\n" : ""}`);
  });

  test("nova.conf is replaced atomically through a temp file, keeping owner and mode, with a backup", async () => {
    const target = join(work, "nova.conf");
    const backup = join(work, "nova.conf.migbot-bak-1");
    const temp = join(work, ".nova.conf.migbot-tmp-7f3a");
    const original = readFixture("nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf");
    writeFileSync(target, original, { mode: 0o640 });
    // As root, give it another owner so "kept" is not just "root stayed root".
    if (isRoot) chownSync(target, 65534, 65534);
    const edited = original.replace(
      /^\[libvirt\]$/m,
      "[libvirt]\nlive_migration_permit_auto_converge = true",
    );
    expect(edited).not.toBe(original);

    const statBefore = await executor.run("real-sshd", { kind: "stat-file", path: target });
    const [modeBefore, ownerBefore, groupBefore, sizeBefore] = statBefore.stdout.trim().split(" ");
    expect(modeBefore).toBe("640");
    expect(Number(sizeBefore)).toBe(Buffer.byteLength(original));

    await executor.run("real-sshd", { kind: "copy-file", from: target, to: backup });
    // The temp starts as a copy of the target: owner and mode are the target's before any new byte.
    await executor.run("real-sshd", { kind: "copy-file", from: target, to: temp });
    const tempBefore = statSync(temp);
    expect(tempBefore.mode & 0o777).toBe(0o640);
    if (isRoot) expect([tempBefore.uid, tempBefore.gid]).toEqual([65534, 65534]);
    // A shorter content than the copy's: dd must truncate, and keep the mode it found.
    const shorter = edited.slice(0, 200);
    await executor.run("real-sshd", { kind: "write-file", path: temp, content: shorter });
    expect(readFileSync(temp, "utf8")).toBe(shorter);
    await executor.run("real-sshd", { kind: "write-file", path: temp, content: edited });
    const tempAfter = statSync(temp);
    expect([tempAfter.mode & 0o777, tempAfter.uid, tempAfter.gid]).toEqual([
      0o640,
      tempBefore.uid,
      tempBefore.gid,
    ]);
    await executor.run("real-sshd", { kind: "rename-file", from: temp, to: target });

    expect((await executor.run("real-sshd", { kind: "read-file", path: target })).stdout).toBe(edited);
    expect((await executor.run("real-sshd", { kind: "read-file", path: backup })).stdout).toBe(original);
    const statAfter = (await executor.run("real-sshd", { kind: "stat-file", path: target })).stdout
      .trim()
      .split(" ");
    expect(statAfter).toEqual([modeBefore, ownerBefore, groupBefore, String(Buffer.byteLength(edited))]);
    const onDisk = statSync(target);
    expect(onDisk.mode & 0o777).toBe(0o640);
    if (isRoot) expect([onDisk.uid, onDisk.gid]).toEqual([65534, 65534]);
    const backupStat = statSync(backup);
    expect([backupStat.mode & 0o777, backupStat.uid]).toEqual([0o640, isRoot ? 65534 : onDisk.uid]);

    // A leftover temp file is removed; rm -f of one already gone still succeeds.
    const leftover = join(work, ".nova.conf.migbot-tmp-dead");
    writeFileSync(leftover, "half-written");
    await executor.run("real-sshd", { kind: "remove-temp-file", path: leftover });
    await executor.run("real-sshd", { kind: "remove-temp-file", path: leftover });
    expect(() => statSync(leftover)).toThrow();
  });

  test("the write never creates a file, nor writes through a symlink or into a planted folder", async () => {
    const victim = join(work, "victim");
    writeFileSync(victim, "untouched\n", { mode: 0o644 });
    // write-file into a temp that copy-file did not make: refused, nothing created with the umask.
    const absent = join(work, ".nova.conf.migbot-tmp-absent");
    const noFile = await rejection(
      executor.run("real-sshd", { kind: "write-file", path: absent, content: "secret" }),
    );
    expect(noFile).toMatchObject({ stderr: expect.stringContaining("No such file or directory") });
    expect(() => statSync(absent)).toThrow();
    // A temp name swapped for a symlink between copy and write: dd refuses to follow it.
    const swapped = join(work, ".nova.conf.migbot-tmp-swapped");
    symlinkSync(victim, swapped);
    const loop = await rejection(
      executor.run("real-sshd", { kind: "write-file", path: swapped, content: "secret" }),
    );
    expect(loop).toMatchObject({ stderr: expect.stringContaining("Too many levels of symbolic links") });
    // A backup name planted as a symlink to a file, or to a folder: cp replaces the link itself.
    const source = join(work, "nova.conf.src");
    writeFileSync(source, "[DEFAULT]\n", { mode: 0o640 });
    const toFile = join(work, "nova.conf.migbot-backup-1");
    const toDir = join(work, "nova.conf.migbot-backup-2");
    const dir = join(work, "planted-dir");
    mkdirSync(dir);
    symlinkSync(victim, toFile);
    symlinkSync(dir, toDir);
    await executor.run("real-sshd", { kind: "copy-file", from: source, to: toFile });
    await executor.run("real-sshd", { kind: "copy-file", from: source, to: toDir });
    expect(readFileSync(victim, "utf8")).toBe("untouched\n");
    expect(readdirSync(dir)).toEqual([]);
    expect(lstatSync(toFile).isFile() && lstatSync(toDir).isFile()).toBe(true);
    // A target that is a symlink to a folder: mv -T replaces the link, it does not move into the folder.
    const linkedTarget = join(work, "nova-linked.conf");
    symlinkSync(dir, linkedTarget);
    const temp = join(work, ".nova-linked.conf.migbot-tmp-1");
    await executor.run("real-sshd", { kind: "copy-file", from: source, to: temp });
    await executor.run("real-sshd", { kind: "rename-file", from: temp, to: linkedTarget });
    expect(readdirSync(dir)).toEqual([]);
    expect(lstatSync(linkedTarget).isFile()).toBe(true);
  });

  test("shellQuote round-trips hostile strings through sshd and the login shell", async () => {
    // The catalogue never lets such strings through; this proves the quoting layer under it anyway,
    // by asking the real shell to echo each argument back NUL-separated.
    const hostile = [
      "x; rm -rf /",
      "$(reboot)",
      "`id`",
      "it's",
      '"double" \\ back',
      "line1\nline2",
      "tab\there",
      "*",
      "~root",
      "",
      "--",
      "-n",
      "a'b'c''",
    ];
    const line = `printf '%s\\0' ${hostile.map(shellQuote).join(" ")}`;
    const client = new Client();
    const output = await new Promise<string>((resolve, reject) => {
      client.on("ready", () => {
        client.exec(line, (err, stream) => {
          if (err) return reject(err);
          let out = "";
          stream.on("data", (d: Buffer) => {
            out += d.toString("utf8");
          });
          stream.stderr.resume();
          stream.on("close", () => resolve(out));
          stream.end();
        });
      });
      client.on("error", reject);
      client.connect({
        host: "127.0.0.1",
        port,
        username: user,
        privateKey: readFileSync(keys.keyPath),
        hostVerifier: () => true,
      });
    });
    client.end();
    expect(output.split("\0").slice(0, -1)).toEqual(hostile);
  });

  test("a wrong pinned fingerprint is refused; ssh-keyscan's known_hosts is accepted; hashed entries are skipped", async () => {
    const wrong = executorFor([
      { ...entry, hostKeyFingerprints: ["SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"] },
    ]);
    try {
      const err = await rejection(wrong.run("real-sshd", { kind: "virsh-list" }));
      expect(err.code).toBe(HostErrorCode.HostKeyMismatch);
      expect(err.message).toContain(fingerprint);
    } finally {
      await wrong.close();
    }

    const keyscan = requireProgram("ssh-keyscan", "openssh-client");
    const scanned = spawnSync(keyscan, ["-t", "ed25519", "-p", String(port), "127.0.0.1"], {
      encoding: "utf8",
    });
    const knownHosts = join(dir, "known_hosts");
    writeFileSync(knownHosts, scanned.stdout);
    expect(scanned.stdout).toContain(`[127.0.0.1]:${port} ssh-ed25519 `);
    const pinnedByFile = executorFor([{ ...entry, hostKeyFingerprints: undefined }], {
      knownHostsPath: knownHosts,
    });
    try {
      const r = await pinnedByFile.run("real-sshd", {
        kind: "read-file",
        path: join(dir, "authorized_keys"),
      });
      expect(r.stdout).toBe(`${keys.publicLine}\n`);
    } finally {
      await pinnedByFile.close();
    }

    const { keygen } = found as { sshd: string; keygen: string };
    spawnSync(keygen, ["-H", "-f", knownHosts], { encoding: "utf8" });
    const hashed = readFileSync(knownHosts, "utf8");
    expect(hashed).toMatch(/^\|1\|/m);
    expect(parseKnownHosts(hashed).skipped.join(" ")).toMatch(/hashed host name skipped/);
    const hashedOnly = executorFor([{ ...entry, hostKeyFingerprints: undefined }], {
      knownHostsPath: knownHosts,
    });
    try {
      const err = await rejection(hashedOnly.run("real-sshd", { kind: "virsh-list" }));
      expect(err.code).toBe(HostErrorCode.HostKeyUnknown);
    } finally {
      await hashedOnly.close();
    }
    rmSync(`${knownHosts}.old`, { force: true });
  });
});

describe.skipIf(skipReason !== undefined)(
  "host key algorithms against a real OpenSSH sshd with an RSA key",
  () => {
    const keys = makeClientKeys("migbot-openssh-rsa-");
    const user = userInfo().username;
    const started: ChildProcess[] = [];
    const executors: SshExecutor[] = [];

    afterAll(async () => {
      for (const e of executors) await e.close();
      for (const child of started) await stopSshd(child);
      keys.dispose();
    });

    async function executorFacing(name: string, hostKeyAlgorithms: string): Promise<SshExecutor> {
      const dir = join(keys.dir, name);
      mkdirSync(dir);
      const sshd = await startSshd(found as { sshd: string; keygen: string }, dir, {
        hostKeyType: "rsa",
        authorizedKeyLine: keys.publicLine,
        extraConfig: [`HostKeyAlgorithms ${hostKeyAlgorithms}`],
      });
      started.push(sshd.process);
      const executor = executorFor([
        {
          name,
          address: "127.0.0.1",
          port: sshd.port,
          user,
          privateKeyPath: keys.keyPath,
          hostKeyFingerprints: [sshd.fingerprint],
        },
      ]);
      executors.push(executor);
      return executor;
    }

    test("an sshd allowed only ssh-rsa is refused with HOST_KEY_ALGORITHM_REFUSED", async () => {
      const executor = await executorFacing("rsa-sha1-only", "ssh-rsa");
      const err = await rejection(
        executor.run("rsa-sha1-only", { kind: "read-file", path: "/etc/hostname" }),
      );
      expect(err.code).toBe(HostErrorCode.HostKeyAlgorithmRefused);
      expect(err.message).toMatch(/Enable a modern host key/);
    });

    test("the same kind of RSA key with rsa-sha2-512 works", async () => {
      const executor = await executorFacing("rsa-sha2", "rsa-sha2-512");
      const r = await executor.run("rsa-sha2", { kind: "stat-file", path: keys.keyPath });
      expect(r.exitCode).toBe(0);
    });
  },
);
