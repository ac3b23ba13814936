/**
 * SSH pooling benchmark: the same catalogue command run over one pooled connection versus a fresh
 * connection (TCP + key exchange + public-key auth) per command, against one sandbox SSH host in
 * this process. Run alone with `npx tsx src/bench/ssh.ts`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SshExecutor } from "../hosts/executor";
import type { HostEntry } from "../hosts/inventory";
import { generateKeyPair, startSandboxSshServer } from "../sandbox/ssh-server";

/** Commands timed in each mode. */
export const SSH_BENCH_COMMANDS = 200;
/** Untimed commands first, so JIT warm-up does not count against either mode. */
const SSH_BENCH_WARMUP_COMMANDS = 10;

async function timeCommands(executor: SshExecutor, count: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const r = await executor.run("bench-host", { kind: "virsh-domjobinfo", domain: `instance-${i}` });
    if (r.exitCode !== 0) throw new Error(`bench command failed: ${r.stderr}`);
  }
  return performance.now() - started;
}

/** Runs both modes sequentially and reports milliseconds; the last line names the speedup. */
export async function runSshBench(): Promise<{ lastLine: string; rows: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), "migbot-ssh-bench-"));
  const client = generateKeyPair("migbot-bench");
  const keyPath = join(dir, "id_ed25519");
  writeFileSync(keyPath, client.privatePem, { mode: 0o600 });
  const server = await startSandboxSshServer({
    hostName: "bench-host",
    authorizedKeys: [client.publicLine],
    handler: (command) => ({
      stdout: command.kind === "virsh-domjobinfo" ? "Job type:         None        \n\n" : "",
      stderr: "",
      exitCode: 0,
    }),
  });
  const entry: HostEntry = {
    name: "bench-host",
    address: server.address,
    port: server.port,
    privateKeyPath: keyPath,
    hostKeyFingerprints: [server.hostKeyFingerprint],
  };
  const pooled = new SshExecutor([entry], { env: {} });
  const fresh = new SshExecutor([entry], { env: {}, pool: false });
  try {
    await timeCommands(pooled, SSH_BENCH_WARMUP_COMMANDS);
    await timeCommands(fresh, SSH_BENCH_WARMUP_COMMANDS);
    const connectionsBefore = server.acceptedConnections;
    const pooledMs = await timeCommands(pooled, SSH_BENCH_COMMANDS);
    const pooledConnections = server.acceptedConnections - connectionsBefore;
    const freshMs = await timeCommands(fresh, SSH_BENCH_COMMANDS);
    const freshConnections = server.acceptedConnections - connectionsBefore - pooledConnections;
    const speedup = freshMs / pooledMs;
    const rows: Record<string, number> = {
      commands: SSH_BENCH_COMMANDS,
      pooled_total_ms: Math.round(pooledMs),
      pooled_per_command_ms: Number((pooledMs / SSH_BENCH_COMMANDS).toFixed(2)),
      pooled_connections: pooledConnections,
      fresh_total_ms: Math.round(freshMs),
      fresh_per_command_ms: Number((freshMs / SSH_BENCH_COMMANDS).toFixed(2)),
      fresh_connections: freshConnections,
      speedup: Number(speedup.toFixed(1)),
    };
    const lastLine = `ssh pooled speedup: ${speedup.toFixed(1)}x`;
    for (const [name, value] of Object.entries(rows)) console.log(`${name}: ${value}`);
    console.log(lastLine);
    return { lastLine, rows };
  } finally {
    await pooled.close();
    await fresh.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runSshBench().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
