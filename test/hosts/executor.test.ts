import { writeFileSync } from "node:fs";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { join } from "node:path";
import ssh2, { utils } from "ssh2";
import { afterAll, afterEach, beforeAll, describe, expect, onTestFinished, test, vi } from "vitest";
import type { HostCommand } from "../../src/hosts/catalogue";
import { HostError, HostErrorCode } from "../../src/hosts/errors";
import type { SshExecutor } from "../../src/hosts/executor";
import { createLogger } from "../../src/log";
import type { CommandContext, SandboxSshServer } from "../../src/sandbox/ssh-server";
import { readFixture } from "../support/fixtures";
import { freePort } from "../support/programs";
import { type ClientKeys, executorFor, makeClientKeys, startHost } from "./harness";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function rejection(promise: Promise<unknown>): Promise<HostError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(HostError);
    return err as HostError;
  }
  throw new Error("expected the command to fail");
}

/** The real `virsh cpu-compare --error` failure for Haswell on the captured host (exit status 1). */
function capturedCpuCompareError(): string {
  const text = readFixture("libvirt/virsh-outputs/virsh-cpu-compare.txt");
  const start = text.indexOf("$ virsh cpu-compare --error x86-cpuid-Core-i7-4600U-host.xml\n");
  const body = text.slice(text.indexOf("\n", start) + 1);
  return `${body.slice(0, body.indexOf("\n\n[exit status 1]"))}\n`;
}

describe("SshExecutor against sandbox SSH hosts", () => {
  let keys: ClientKeys;
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeAll(() => {
    keys = makeClientKeys();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(() => keys.dispose());

  async function setup(
    handler: (
      command: HostCommand,
      ctx: CommandContext,
    ) =>
      | { stdout: string; stderr: string; exitCode: number }
      | Promise<{ stdout: string; stderr: string; exitCode: number }>,
    entryOverrides = {},
    executorOpts = {},
  ): Promise<{ server: SandboxSshServer; executor: SshExecutor; calls: HostCommand[] }> {
    const calls: HostCommand[] = [];
    const { server, entry } = await startHost(
      keys,
      (command, ctx) => {
        calls.push(command);
        return handler(command, ctx);
      },
      entryOverrides,
    );
    const executor = executorFor([entry], executorOpts);
    cleanups.push(
      () => server.close(),
      () => executor.close(),
    );
    return { server, executor, calls };
  }

  test("many commands share one pooled TCP connection", async () => {
    const { server, executor } = await setup((command) => ({
      stdout: command.kind === "virsh-domjobinfo" ? `job of ${command.domain}\n` : "",
      stderr: "",
      exitCode: 0,
    }));
    for (let i = 0; i < 5; i++) {
      const r = await executor.run("compute-1", { kind: "virsh-domjobinfo", domain: `instance-${i}` });
      expect(r.stdout).toBe(`job of instance-${i}\n`);
    }
    const parallel = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        executor.run("compute-1", { kind: "virsh-domjobinfo", domain: `instance-p${i}` }),
      ),
    );
    expect(parallel.map((r) => r.stdout)).toEqual(
      Array.from({ length: 25 }, (_, i) => `job of instance-p${i}\n`),
    );
    expect(server.acceptedConnections).toBe(1);
  });

  test("the connection turns Nagle's algorithm off (small request/response packets)", async () => {
    // Nagle meeting the host's delayed ACKs would add ~40 ms to every command on a warm connection;
    // what that costs is measured by the ssh benchmark (src/bench/ssh.ts), not here.
    const noDelay = vi.spyOn(ssh2.Client.prototype, "setNoDelay");
    onTestFinished(() => noDelay.mockRestore());
    const { executor } = await setup(() => ({ stdout: "", stderr: "", exitCode: 0 }));
    await executor.run("compute-1", { kind: "virsh-list" });
    expect(noDelay.mock.calls).toEqual([[true]]);
  });

  test("at most 8 channels are open on a host at once; the rest wait their turn", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const { server, executor } = await setup(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(120);
      inFlight--;
      return { stdout: "Id   Name   State\n", stderr: "", exitCode: 0 };
    });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => executor.run("compute-1", { kind: "virsh-list" })),
    );
    expect(results).toHaveLength(20);
    expect(maxInFlight).toBe(8);
    expect(server.acceptedConnections).toBe(1);
  });

  test("a host presenting a key other than the pinned one is refused, naming both fingerprints", async () => {
    const other = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
    const { server, executor, calls } = await setup(() => ({ stdout: "", stderr: "", exitCode: 0 }), {
      hostKeyFingerprints: [other],
    });
    const err = await rejection(executor.run("compute-1", { kind: "virsh-list" }));
    expect(err.code).toBe(HostErrorCode.HostKeyMismatch);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("compute-1");
    expect(err.message).toContain(other);
    expect(err.message).toContain(server.hostKeyFingerprint);
    expect(err.message).toMatch(/update the pinned fingerprint/);
    expect(calls).toHaveLength(0);
  });

  test("a host with no pinned key is refused as unknown", async () => {
    const { server, executor, calls } = await setup(() => ({ stdout: "", stderr: "", exitCode: 0 }), {
      hostKeyFingerprints: [],
    });
    const err = await rejection(executor.run("compute-1", { kind: "virsh-list" }));
    expect(err.code).toBe(HostErrorCode.HostKeyUnknown);
    expect(err.message).toContain(server.hostKeyFingerprint);
    expect(calls).toHaveLength(0);
  });

  test("a key pinned through a known_hosts file in [host]:port form is accepted", async () => {
    const { server, entry } = await startHost(keys, () => ({ stdout: "13.1.4\n", stderr: "", exitCode: 0 }), {
      hostKeyFingerprints: undefined,
    });
    const knownHosts = join(keys.dir, "known_hosts");
    writeFileSync(knownHosts, `# pinned by hand\n[127.0.0.1]:${server.port} ${server.hostKeyPublic}\n`);
    const executor = executorFor([entry], { knownHostsPath: knownHosts });
    cleanups.push(
      () => server.close(),
      () => executor.close(),
    );
    const r = await executor.run("compute-1", { kind: "nova-compute-version" });
    expect(r.stdout).toBe("13.1.4\n");
  });

  test("a program missing on the host comes back as HOST_COMMAND_FAILED with bash's 127", async () => {
    const { executor } = await setup(() => ({
      stdout: "",
      stderr: "bash: line 1: nova-compute: command not found\n",
      exitCode: 127,
    }));
    const err = await rejection(executor.run("compute-1", { kind: "nova-compute-version" }));
    expect(err.code).toBe(HostErrorCode.HostCommandFailed);
    expect(err).toMatchObject({ exitCode: 127, stderr: "bash: line 1: nova-compute: command not found" });
    expect(err.retryable).toBe(false);
  });

  test("a non-zero exit is an answer when allowNonZeroExit is set, a failure otherwise; stdin reaches the host", async () => {
    const failure = capturedCpuCompareError();
    const cpuXml = readFixture("libvirt/cputestdata/x86-cpuid-Core-i7-4600U-host.xml");
    const { executor } = await setup((command, ctx) => {
      if (command.kind !== "virsh-cpu-compare") return { stdout: "", stderr: "", exitCode: 2 };
      expect(command.cpuXml).toBe(cpuXml);
      expect(ctx.stdin).toBe(cpuXml);
      return { stdout: "", stderr: failure, exitCode: 1 };
    });
    const answer = await executor.run(
      "compute-1",
      { kind: "virsh-cpu-compare", cpuXml },
      { allowNonZeroExit: true },
    );
    expect(answer).toEqual({ stdout: "", stderr: failure, exitCode: 1 });
    const err = await rejection(executor.run("compute-1", { kind: "virsh-cpu-compare", cpuXml }));
    expect(err.code).toBe(HostErrorCode.HostCommandFailed);
    expect(err).toMatchObject({ exitCode: 1, stderr: failure.trim() });
    expect(err.message).toContain("Host CPU does not provide required features: ds, acpi");
  });

  test("sudo comes from the inventory entry", async () => {
    const seen: boolean[] = [];
    const { executor } = await setup(
      (_command, ctx) => {
        seen.push(ctx.sudo);
        return { stdout: "active\n", stderr: "", exitCode: 0 };
      },
      { sudo: true },
    );
    await executor.run("compute-1", { kind: "systemctl-is-active", service: "nova-compute" });
    expect(seen).toEqual([true]);
  });

  test("a command that outlives its timeout is stopped with a retryable HOST_TIMEOUT; the connection stays usable", async () => {
    // The host answers the second command only when the test lets it: the executor must give up first.
    let answer = () => {};
    let calls = 0;
    const { server, executor } = await setup(async () => {
      if (++calls === 2) await new Promise<void>((resolve) => (answer = resolve));
      return { stdout: "ok\n", stderr: "", exitCode: 0 };
    });
    onTestFinished(() => answer());
    await executor.run("compute-1", { kind: "virsh-list" });
    const err = await rejection(executor.run("compute-1", { kind: "virsh-list" }, { timeoutMs: 200 }));
    expect(calls).toBe(2);
    expect(err.code).toBe(HostErrorCode.HostTimeout);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("virsh-list on compute-1 did not finish within 200 ms");
    answer();
    expect((await executor.run("compute-1", { kind: "virsh-list" })).stdout).toBe("ok\n");
    expect(server.acceptedConnections).toBe(1);
  });

  test("after the connection drops, the next command reconnects transparently", async () => {
    const { server, executor } = await setup(() => ({ stdout: "ok\n", stderr: "", exitCode: 0 }));
    await executor.run("compute-1", { kind: "virsh-list" });
    server.dropAllConnections();
    expect((await executor.run("compute-1", { kind: "virsh-list" })).stdout).toBe("ok\n");
    expect(server.acceptedConnections).toBe(2);
  });

  test("a command in flight when the connection drops fails with retryable HOST_UNREACHABLE", async () => {
    const { server, executor } = await setup(() => ({ stdout: "ok\n", stderr: "", exitCode: 0 }));
    server.setResponseDelayMs(2_000);
    const running = rejection(executor.run("compute-1", { kind: "virsh-list" }));
    await sleep(300);
    server.dropAllConnections();
    const err = await running;
    expect(err.code).toBe(HostErrorCode.HostUnreachable);
    expect(err.retryable).toBe(true);
    server.setResponseDelayMs(0);
    expect((await executor.run("compute-1", { kind: "virsh-list" })).stdout).toBe("ok\n");
  });

  test("output past the cap is refused with HOST_OUTPUT_TOO_LARGE", async () => {
    const capBytes = 64 * 1024;
    const { executor } = await setup(
      (command) => {
        const lines = command.kind === "tail-log" ? command.lines : 0;
        return { stdout: "x".repeat(lines * 100), stderr: "", exitCode: 0 };
      },
      {},
      { maxOutputBytes: capBytes },
    );
    const small = await executor.run("compute-1", {
      kind: "tail-log",
      path: "/var/log/nova/nova-compute.log",
      lines: 600,
    });
    expect(small.stdout.length).toBe(60_000);
    const err = await rejection(
      executor.run("compute-1", { kind: "tail-log", path: "/var/log/nova/nova-compute.log", lines: 5000 }),
    );
    expect(err.code).toBe(HostErrorCode.HostOutputTooLarge);
    expect(err.message).toContain(String(capBytes));
  });

  test("hostile arguments are refused before anything is sent", async () => {
    const { server, executor, calls } = await setup(() => ({ stdout: "", stderr: "", exitCode: 0 }));
    const hostile: HostCommand[] = [
      { kind: "virsh-domjobinfo", domain: "x; rm -rf /" },
      { kind: "virsh-domjobinfo", domain: "$(reboot)" },
      { kind: "virsh-domjobinfo", domain: "instance-1\nreboot" },
      { kind: "virsh-domjobinfo", domain: "it's" },
      { kind: "virsh-domjobinfo", domain: '"quoted"' },
      { kind: "virsh-domjobinfo", domain: "`id`" },
      { kind: "read-file", path: "/etc/nova/../shadow" },
      { kind: "read-file", path: "relative/nova.conf" },
      { kind: "write-file", path: "/etc/nova/nova.conf", content: "overwrite in place" },
      { kind: "tail-log", path: "/var/log/nova/nova-compute.log", lines: 1e9 },
      { kind: "systemctl-restart", service: "sshd" as "nova-compute" },
    ];
    for (const command of hostile) {
      const err = await rejection(executor.run("compute-1", command));
      expect(err.code).toBe(HostErrorCode.HostBadArgument);
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/Nothing was sent/);
      expect(err.message).not.toMatch(/\n/);
    }
    expect(calls).toHaveLength(0);
    expect(server.acceptedConnections).toBe(0);
  });

  test("an unknown host name is HOST_NOT_IN_INVENTORY", async () => {
    const { executor } = await setup(() => ({ stdout: "", stderr: "", exitCode: 0 }));
    const err = await rejection(executor.run("compute-9", { kind: "virsh-list" }));
    expect(err.code).toBe(HostErrorCode.HostNotInInventory);
    expect(err.message).toContain("compute-9");
    expect(err.message).toContain("compute-1");
  });

  test("a key the host does not accept is HOST_AUTH_FAILED (not retryable)", async () => {
    const stranger = makeClientKeys("migbot-ssh-stranger-");
    cleanups.push(() => stranger.dispose());
    const { executor } = await setup(() => ({ stdout: "", stderr: "", exitCode: 0 }), {
      privateKeyPath: stranger.keyPath,
    });
    const err = await rejection(executor.run("compute-1", { kind: "virsh-list" }));
    expect(err.code).toBe(HostErrorCode.HostAuthFailed);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("as 'migbot'");
  });

  test("no key and no agent is HOST_AUTH_FAILED saying what is missing", async () => {
    const { executor } = await setup(() => ({ stdout: "", stderr: "", exitCode: 0 }), {
      privateKeyPath: undefined,
    });
    const err = await rejection(executor.run("compute-1", { kind: "virsh-list" }));
    expect(err.code).toBe(HostErrorCode.HostAuthFailed);
    expect(err.message).toContain("SSH_AUTH_SOCK is not set");
  });

  test("a closed port is a retryable HOST_UNREACHABLE", async () => {
    const port = await freePort();
    const executor = executorFor([
      {
        name: "compute-down",
        address: "127.0.0.1",
        port,
        privateKeyPath: keys.keyPath,
        hostKeyFingerprints: ["SHA256:x"],
      },
    ]);
    cleanups.push(() => executor.close());
    const err = await rejection(executor.run("compute-down", { kind: "virsh-list" }));
    expect(err.code).toBe(HostErrorCode.HostUnreachable);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain(`127.0.0.1:${port}`);
  });

  test("a host that accepts TCP but never speaks SSH is a retryable connect HOST_TIMEOUT", async () => {
    const silent = createServer(() => {});
    const held: Socket[] = [];
    silent.on("connection", (socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    const executor = executorFor(
      [
        {
          name: "compute-mute",
          address: "127.0.0.1",
          port,
          privateKeyPath: keys.keyPath,
          hostKeyFingerprints: ["SHA256:x"],
        },
      ],
      { connectTimeoutMs: 300 },
    );
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of held) socket.destroy();
          silent.close(() => resolve());
        }),
      () => executor.close(),
    );
    // The host never speaks: only the executor's own connect timeout can end this (or the test's).
    const err = await rejection(executor.run("compute-mute", { kind: "virsh-list" }));
    expect(held).toHaveLength(1);
    expect(err.code).toBe(HostErrorCode.HostTimeout);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("connecting to compute-mute over SSH took longer than 300 ms");
  });

  test("an encrypted key works with its passphrase, and neither key nor passphrase reaches logs or errors", async () => {
    const passphrase = "correct-horse-battery-staple";
    const pair = utils.generateKeyPairSync("ed25519", { passphrase, cipher: "aes256-ctr", rounds: 4 });
    const keyPath = join(keys.dir, "encrypted_ed25519");
    writeFileSync(keyPath, pair.private, { mode: 0o600 });
    const logLines: string[] = [];
    {
      const server = await (await import("../../src/sandbox/ssh-server")).startSandboxSshServer({
        hostName: "compute-enc",
        authorizedKeys: [pair.public],
        handler: () => ({ stdout: "ok\n", stderr: "", exitCode: 0 }),
      });
      const entry = {
        name: "compute-enc",
        address: "127.0.0.1",
        port: server.port,
        privateKeyPath: keyPath,
        hostKeyFingerprints: [server.hostKeyFingerprint],
      };
      const log = createLogger("test", {}, (line) => logLines.push(line), "debug");
      const good = executorFor([entry], { passphrase, log });
      const bad = executorFor([entry], { passphrase: "wrong-passphrase-123", log });
      cleanups.push(
        () => server.close(),
        () => good.close(),
        () => bad.close(),
      );
      expect((await good.run("compute-enc", { kind: "virsh-list" })).stdout).toBe("ok\n");
      const err = await rejection(bad.run("compute-enc", { kind: "virsh-list" }));
      expect(err.code).toBe(HostErrorCode.HostAuthFailed);
      const everything = `${logLines.join("\n")}\n${err.message}\n${JSON.stringify(err)}`;
      expect(logLines.length).toBeGreaterThan(0);
      for (const secret of [
        passphrase,
        "wrong-passphrase-123",
        "PRIVATE KEY",
        pair.private.split("\n")[1]!,
      ]) {
        expect(everything).not.toContain(secret);
      }
    }
  });
});
