import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SshExecutor, type SshExecutorOptions } from "../../src/hosts/executor";
import type { HostEntry } from "../../src/hosts/inventory";
import {
  type CommandHandler,
  generateKeyPair,
  type SandboxSshServer,
  startSandboxSshServer,
} from "../../src/sandbox/ssh-server";

/** A client key on disk (mode 600, like OpenSSH wants) plus a folder that `dispose()` removes. */
export interface ClientKeys {
  dir: string;
  keyPath: string;
  publicLine: string;
  dispose(): void;
}

export function makeClientKeys(prefix = "migbot-ssh-test-"): ClientKeys {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const pair = generateKeyPair("migbot-test-client");
  const keyPath = join(dir, "id_ed25519");
  writeFileSync(keyPath, pair.privatePem, { mode: 0o600 });
  return {
    dir,
    keyPath,
    publicLine: pair.publicLine,
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A sandbox SSH host plus an executor pointed at it with its key pinned. */
export async function startHost(
  keys: ClientKeys,
  handler: CommandHandler,
  entry: Partial<HostEntry> = {},
  name = "compute-1",
): Promise<{ server: SandboxSshServer; entry: HostEntry }> {
  const server = await startSandboxSshServer({ hostName: name, authorizedKeys: [keys.publicLine], handler });
  return {
    server,
    entry: {
      name,
      address: server.address,
      port: server.port,
      user: "migbot",
      privateKeyPath: keys.keyPath,
      hostKeyFingerprints: [server.hostKeyFingerprint],
      ...entry,
    },
  };
}

export function executorFor(entries: HostEntry[], opts: SshExecutorOptions = {}): SshExecutor {
  // Tests must never reach a developer's real agent.
  return new SshExecutor(entries, { env: {}, ...opts });
}
