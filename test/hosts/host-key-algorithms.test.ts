/**
 * Which host key algorithms the executor accepts, against in-process ssh2 servers that offer
 * exactly one: `ssh-rsa` (SHA-1 signatures) is refused before any login, the SHA-2 RSA variants
 * and ECDSA work. (ed25519, the sandbox hosts' key, is covered by executor.test.ts.)
 */
import { generateKeyPairSync } from "node:crypto";
import { type AddressInfo, createServer, type Socket } from "node:net";
import ssh2, { type Connection, type ServerHostKeyAlgorithm } from "ssh2";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { HostError, HostErrorCode } from "../../src/hosts/errors";
import { SSH_HOST_KEY_ALGORITHMS } from "../../src/hosts/executor";
import { sshFingerprint } from "../../src/hosts/known-hosts";
import { type ClientKeys, executorFor, makeClientKeys } from "./harness";

const { Server, utils } = ssh2;

interface OneAlgorithmHost {
  port: number;
  fingerprint: string;
  /** Authentication attempts the server saw (a refused host must see none). */
  authAttempts: () => number;
  /** The host key algorithm each handshake settled on. */
  negotiated: string[];
  close(): Promise<void>;
}

function hostKeyPem(kind: "rsa" | "ecdsa"): string {
  const pair =
    kind === "rsa"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : generateKeyPairSync("ec", { namedCurve: "P-256" });
  return pair.privateKey.export({ type: kind === "rsa" ? "pkcs1" : "sec1", format: "pem" }).toString();
}

/** An ssh2 server whose KEXINIT offers only `algorithm`, answering every command with "ok". */
async function startOneAlgorithmHost(
  algorithm: ServerHostKeyAlgorithm,
  keyPem: string,
  clientPublicLine: string,
): Promise<OneAlgorithmHost> {
  const parsed = utils.parseKey(keyPem);
  if (parsed instanceof Error) throw parsed;
  const hostKey = Array.isArray(parsed) ? parsed[0]! : parsed;
  const clientKey = utils.parseKey(clientPublicLine);
  if (clientKey instanceof Error) throw clientKey;
  const allowed = Array.isArray(clientKey) ? clientKey[0]! : clientKey;
  let auths = 0;
  const negotiated: string[] = [];
  const ssh = new Server(
    { hostKeys: [keyPem], algorithms: { serverHostKey: [algorithm] } },
    (client: Connection) => {
      client.on("error", () => {});
      client.on("handshake", (info) => negotiated.push(info.serverHostKey));
      client.on("authentication", (ctx) => {
        auths++;
        if (ctx.method !== "publickey" || !allowed.getPublicSSH().equals(ctx.key.data)) {
          ctx.reject(["publickey"]);
          return;
        }
        if (ctx.signature === undefined || ctx.blob === undefined) ctx.accept();
        else if (allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) ctx.accept();
        else ctx.reject(["publickey"]);
      });
      client.on("ready", () => {
        client.on("session", (acceptSession) => {
          acceptSession().on("exec", (accept) => {
            const stream = accept();
            stream.resume();
            stream.write("ok\n");
            stream.exit(0);
            stream.end();
          });
        });
      });
    },
  );
  const sockets = new Set<Socket>();
  const tcp = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    ssh.injectSocket(socket);
  });
  await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
  return {
    port: (tcp.address() as AddressInfo).port,
    fingerprint: sshFingerprint(hostKey.getPublicSSH()),
    authAttempts: () => auths,
    negotiated,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}

describe("SSH host key algorithms", () => {
  let keys: ClientKeys;
  const cleanups: Array<() => Promise<void>> = [];
  let rsaKey: string;

  beforeAll(() => {
    keys = makeClientKeys();
    rsaKey = hostKeyPem("rsa");
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(() => keys.dispose());

  async function executorAgainst(algorithm: ServerHostKeyAlgorithm, keyPem: string) {
    const host = await startOneAlgorithmHost(algorithm, keyPem, keys.publicLine);
    cleanups.push(() => host.close());
    const executor = executorFor(
      [
        {
          name: "compute-1",
          address: "127.0.0.1",
          port: host.port,
          user: "migbot",
          privateKeyPath: keys.keyPath,
          hostKeyFingerprints: [host.fingerprint],
        },
      ],
      { connectTimeoutMs: 5_000 },
    );
    cleanups.push(() => executor.close());
    return { host, executor };
  }

  test("ssh-rsa is not among the algorithms offered", () => {
    expect(SSH_HOST_KEY_ALGORITHMS).not.toContain("ssh-rsa");
    expect(SSH_HOST_KEY_ALGORITHMS).toEqual(expect.arrayContaining(["ssh-ed25519", "rsa-sha2-512"]));
  });

  test("a host offering only ssh-rsa is refused with a coded error saying what to enable, before any login", async () => {
    const { host, executor } = await executorAgainst("ssh-rsa", rsaKey);
    const err = await executor.run("compute-1", { kind: "virsh-list" }).then(
      () => {
        throw new Error("expected the connection to be refused");
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HostError);
    expect(err).toMatchObject({
      code: HostErrorCode.HostKeyAlgorithmRefused,
      host: "compute-1",
      retryable: false,
    });
    const message = (err as HostError).message;
    expect(message).toContain("ssh-rsa");
    expect(message).toContain("SHA-1");
    expect(message).toMatch(/Enable a modern host key/);
    expect(message).toContain("ssh-keygen -t ed25519");
    expect(message).toContain("rsa-sha2-512");
    // Nothing was negotiated and no credentials were offered to it.
    expect(host.negotiated).toEqual([]);
    expect(host.authAttempts()).toBe(0);
  });

  test.each([
    ["rsa-sha2-512", "rsa"],
    ["rsa-sha2-256", "rsa"],
    ["ecdsa-sha2-nistp256", "ecdsa"],
  ] as const)("a host offering only %s (%s key) works", async (algorithm, kind) => {
    const { host, executor } = await executorAgainst(
      algorithm,
      kind === "rsa" ? rsaKey : hostKeyPem("ecdsa"),
    );
    const r = await executor.run("compute-1", { kind: "virsh-list" });
    expect(r).toEqual({ stdout: "ok\n", stderr: "", exitCode: 0 });
    expect(host.negotiated).toEqual([algorithm]);
  });

  test("the same RSA key pinned once works whichever SHA-2 signature the host uses", async () => {
    // The pin is the key's SHA256 fingerprint, not the signature algorithm: moving a host from
    // ssh-rsa to rsa-sha2-512 needs no inventory change.
    const a = await executorAgainst("rsa-sha2-512", rsaKey);
    const b = await executorAgainst("rsa-sha2-256", rsaKey);
    expect(a.host.fingerprint).toBe(b.host.fingerprint);
    expect((await a.executor.run("compute-1", { kind: "virsh-list" })).exitCode).toBe(0);
    expect((await b.executor.run("compute-1", { kind: "virsh-list" })).exitCode).toBe(0);
  });
});
