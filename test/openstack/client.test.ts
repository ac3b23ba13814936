import { createServer, type Server as HttpServer } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log";
import type { OpenStackCredentials } from "../../src/openstack/config";
import { OpenStackError, OpenStackErrorCode } from "../../src/openstack/errors";
import { KeystoneAuth } from "../../src/openstack/keystone";
import { NovaClient } from "../../src/openstack/nova";
import { type NovaApi, type SandboxCredentials, startNovaApi } from "../../src/sandbox/nova-api";
import { freePort } from "../support/programs";
import { FakeCloud } from "./fake-cloud";

const PASSWORD = "Sandbox-Pa55word-never-shown";
const SANDBOX: SandboxCredentials = {
  username: "migbot",
  password: PASSWORD,
  projectName: "admin",
  userDomainName: "Default",
  projectDomainName: "Default",
  regionName: "RegionOne",
};
const DB1 = "8600d31b-d1a1-4632-b2ff-45c2be1a70ff";

function credentials(authUrl: string, password = PASSWORD): OpenStackCredentials {
  return {
    authUrl,
    username: "migbot",
    password,
    projectName: "admin",
    userDomainName: "Default",
    projectDomainName: "Default",
    regionName: "RegionOne",
    interface: "public",
    source: "test",
  };
}

async function caught(promise: Promise<unknown>): Promise<OpenStackError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(OpenStackError);
    return err as OpenStackError;
  }
  throw new Error("expected an error");
}

const started: Array<{ close(): Promise<void> }> = [];
async function sandbox(maxMicroversion: string, tokenTtlSeconds?: number) {
  const cloud = new FakeCloud();
  const api: NovaApi = await startNovaApi({
    controlPlane: cloud,
    credentials: SANDBOX,
    maxMicroversion,
    tokenTtlSeconds,
  });
  started.push(api);
  return { cloud, api };
}
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

describe("Nova client against a Zed-like sandbox (2.93)", () => {
  let cloud: FakeCloud;
  let api: NovaApi;
  let auth: KeystoneAuth;
  let nova: NovaClient;
  const logLines: string[] = [];

  beforeAll(async () => {
    ({ cloud, api } = await sandbox("2.93"));
    process.env.MIGBOT_LOG_LEVEL = "debug";
    const log = createLogger("test", {}, (line) => logLines.push(line));
    auth = new KeystoneAuth({ credentials: credentials(api.keystoneUrl), log });
    nova = await NovaClient.connect({ auth, log });
  });
  afterAll(() => {
    delete process.env.MIGBOT_LOG_LEVEL;
  });

  it("negotiates the highest microversion both sides speak", async () => {
    expect(nova.microversion).toBe("2.93");
    const capped = await NovaClient.connect({ auth, maxMicroversion: "2.60" });
    expect(capped.microversion).toBe("2.60");
  });

  it("disables a compute service with a reason and enables it again: by id from 2.53, through the legacy actions before", async () => {
    const host = (await nova.computeServices())[0]!.host;
    const legacy = await NovaClient.connect({ auth, maxMicroversion: "2.25" });
    for (const client of [nova, legacy]) {
      await client.setComputeServiceStatus(host, {
        status: "disabled",
        reason: "migbot drain X: maintenance",
      });
      const off = (await nova.computeServices()).find((s) => s.host === host)!;
      expect([off.status, off.disabledReason]).toEqual(["disabled", "migbot drain X: maintenance"]);
      await client.setComputeServiceStatus(host, { status: "enabled", reason: null });
      const on = (await nova.computeServices()).find((s) => s.host === host)!;
      expect([on.status, on.disabledReason]).toEqual(["enabled", null]);
    }
    await expect(
      nova.setComputeServiceStatus("no-such-host", { status: "disabled", reason: "x" }),
    ).rejects.toThrow(/no nova-compute service on no-such-host/);
  });

  it("reuses one token across many calls, including concurrent ones", async () => {
    const before = api.stats().tokensIssued;
    await Promise.all([
      nova.hypervisors(),
      nova.computeServices(),
      nova.getServer(DB1),
      nova.findServer("db-1"),
    ]);
    for (let i = 0; i < 5; i++) await nova.computeServices();
    expect(api.stats().tokensIssued).toBe(before);
    expect(auth.tokenRequests).toBe(1);
  });

  it("finds a server by id or exact name, with the admin attributes", async () => {
    const byId = await nova.findServer(DB1);
    expect(byId).toMatchObject({
      name: "db-1",
      host: "cmp1",
      instanceName: "instance-00000001",
      status: "ACTIVE",
    });
    expect(byId!.flavor).toEqual({ ramMb: 8192, vcpus: 4, name: "m1.large" });
    // "web.1" is a regex to Nova and matches "web-1" too; the client keeps only the exact name.
    expect((await nova.findServer("web.1"))!.id).toBe("9128d044-7b61-403e-b766-7547076ff6c1");
    expect(await nova.findServer("no-such-vm")).toBeNull();
    expect(await nova.findServer("00000000-0000-4000-8000-000000000000")).toBeNull();
  });

  it("live-migrates with block_migration auto and async pre-checks", async () => {
    await nova.liveMigrate(DB1, { host: "cmp2" });
    expect(cloud.liveMigrateCalls.at(-1)).toEqual({
      serverId: DB1,
      request: { host: "cmp2", blockMigration: "auto", asyncPrecheck: true, forced: false },
    });
    const [migration] = await nova.listServerMigrations(DB1);
    expect(migration).toMatchObject({
      status: "running",
      sourceCompute: "cmp1",
      destCompute: "cmp2",
      memoryTotalBytes: 8 * 1024 ** 3,
      memoryRemainingBytes: 6 * 1024 ** 3,
    });
    expect(migration!.uuid).toBeDefined();
    expect((await nova.getServerMigration(DB1, migration!.id))!.memoryProcessedBytes).toBe(2 * 1024 ** 3);

    await nova.forceComplete(DB1, migration!.id);
    expect(cloud.forceCompleted).toContain(migration!.id);

    cloud.finish(migration!.id, "completed");
    expect(await nova.getServerMigration(DB1, migration!.id)).toBeNull();
    expect(await nova.listServerMigrations(DB1)).toEqual([]);
    const history = await nova.listMigrations({ instanceUuid: DB1, migrationType: "live-migration" });
    expect(history.map((m) => `${m.id}:${m.status}:${m.migrationType}`)).toEqual([
      `${migration!.id}:completed:live-migration`,
    ]);
    expect((await nova.getServer(DB1)).host).toBe("cmp2");
  });

  it("keeps Nova's own message on refusals, with codes that say whether to retry", async () => {
    const unknownHost = await caught(
      nova.liveMigrate("9128d044-7b61-403e-b766-7547076ff6c1", { host: "cmp9" }),
    );
    expect(unknownHost.code).toBe(OpenStackErrorCode.BadRequest);
    expect(unknownHost.message).toBe("Compute host cmp9 could not be found.");
    expect(unknownHost.retryable).toBe(false);

    const server = cloud.addServer({ id: crypto.randomUUID(), name: "busy", host: "cmp1" });
    server.status = "MIGRATING";
    const conflict = await caught(nova.liveMigrate(server.id, { host: null }));
    expect(conflict.code).toBe(OpenStackErrorCode.Conflict);
    expect(conflict.message).toBe(
      `Cannot 'os-migrateLive' instance ${server.id} while it is in task_state migrating`,
    );

    const missing = await caught(nova.getServer("00000000-0000-4000-8000-000000000000"));
    expect(missing.code).toBe(OpenStackErrorCode.NotFound);
    expect(missing.message).toBe("Instance 00000000-0000-4000-8000-000000000000 could not be found.");
  });

  it("refuses an ambiguous name, following Nova's pages to count every match", async () => {
    for (let i = 0; i < 1001; i++) cloud.addServer({ id: crypto.randomUUID(), name: "dup", host: "cmp1" });
    const err = await caught(nova.findServer("dup"));
    expect(err.code).toBe(OpenStackErrorCode.AmbiguousName);
    expect(err.message).toMatch(/^1001 servers are named "dup" .*use the server id instead$/);
  });

  it("reads hypervisor capacity at 2.87 (2.88 dropped it) and compute services", async () => {
    const hypervisors = await nova.hypervisors();
    expect(hypervisors.map((h) => h.serviceHost)).toEqual(["cmp1", "cmp2", "cmp3", "cmp4"]);
    expect(hypervisors[0]!.id).toBe("00000000-0000-4000-8000-000000000001");
    // The client negotiated 2.93, yet the reservation phase still sees free RAM and vCPUs.
    expect(nova.microversion).toBe("2.93");
    expect(hypervisors[0]!.vcpus).toBeTypeOf("number");
    expect(hypervisors[0]!.freeRamMb).toBeTypeOf("number");
    const services = await nova.computeServices();
    expect(services.map((s) => `${s.host}:${s.state}:${s.status}`)).toEqual([
      "cmp1:up:enabled",
      "cmp2:up:enabled",
      "cmp3:down:enabled",
      "cmp4:up:disabled",
    ]);
    expect(services[3]!.disabledReason).toBe("maintenance window");
  });

  it("hard-reboots", async () => {
    await nova.rebootServer(DB1, "HARD");
    expect(cloud.rebooted).toContain(DB1);
  });

  it("never writes the password or a token into its logs", async () => {
    const token = (await auth.token()).value;
    expect(logLines.length).toBeGreaterThan(0);
    const all = logLines.join("\n");
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(token);
  });
});

describe("Nova client against a Mitaka sandbox (2.25)", () => {
  let cloud: FakeCloud;
  let api: NovaApi;
  let auth: KeystoneAuth;

  beforeAll(async () => {
    ({ cloud, api } = await sandbox("2.25"));
    auth = new KeystoneAuth({ credentials: credentials(api.keystoneUrl) });
  });

  it("negotiates 2.25 through a catalog URL that carries the project id", async () => {
    expect(await auth.computeEndpoint()).toMatch(/\/compute\/v2\.1\/[0-9a-f]{32}$/);
    const nova = await NovaClient.connect({ auth });
    expect(nova.microversion).toBe("2.25");
    await nova.liveMigrate(DB1, { host: null });
    expect(cloud.liveMigrateCalls.at(-1)!.request).toEqual({
      host: null,
      blockMigration: "auto",
      asyncPrecheck: false,
      forced: false,
    });
    const [migration] = await nova.listServerMigrations(DB1);
    expect(migration!.memoryRemainingBytes).toBe(6 * 1024 ** 3);
    await nova.abortMigration(DB1, migration!.id);
    expect(cloud.aborted).toContain(migration!.id);
    const [hypervisor] = await nova.hypervisors();
    // Mitaka: integer ids, statistics present, cpu_info sent as a JSON string.
    expect(hypervisor).toMatchObject({ id: "1", vcpus: 16, memoryMb: 65536 });
    expect(hypervisor!.cpuInfo).toMatchObject({ model: "Skylake-Client" });
  });

  it("below 2.24 sends booleans, falls back to os-migrations, and refuses abort as unsupported", async () => {
    const old = await NovaClient.connect({ auth, maxMicroversion: "2.21" });
    const server = cloud.addServer({ id: crypto.randomUUID(), name: "old-api", host: "cmp1" });
    await old.liveMigrate(server.id, { host: "cmp2" });
    expect(cloud.liveMigrateCalls.at(-1)!.request).toEqual({
      host: "cmp2",
      blockMigration: false,
      asyncPrecheck: false,
      forced: true,
    });
    const [migration] = await old.listServerMigrations(server.id);
    expect(migration).toMatchObject({ status: "running", destCompute: "cmp2", memoryRemainingBytes: null });
    expect((await old.getServerMigration(server.id, migration!.id))!.status).toBe("running");
    cloud.finish(migration!.id, "error");
    // os-migrations keeps finished ones, so the fallback sees how it ended.
    expect((await old.getServerMigration(server.id, migration!.id))!.status).toBe("error");
    const abort = await caught(old.abortMigration(server.id, migration!.id));
    expect(abort.code).toBe(OpenStackErrorCode.Unsupported);
    expect(abort.message).toContain("2.24");
    expect((await caught(old.forceComplete(server.id, migration!.id))).code).toBe(
      OpenStackErrorCode.Unsupported,
    );
  });
});

describe("Keystone token lifetime", () => {
  it("authenticates again once the token is about to expire", async () => {
    const { api } = await sandbox("2.93", 0.4);
    const auth = new KeystoneAuth({ credentials: credentials(api.keystoneUrl), refreshMarginMs: 100 });
    const nova = await NovaClient.connect({ auth });
    await nova.computeServices();
    expect(auth.tokenRequests).toBe(1);
    await new Promise((r) => setTimeout(r, 350));
    await nova.computeServices();
    expect(auth.tokenRequests).toBe(2);
    expect(api.stats().tokensIssued).toBe(2);
  });

  it("re-authenticates once when Nova answers 401 for a token it thought valid", async () => {
    const { api } = await sandbox("2.93", 0.3);
    // A client clock an hour behind keeps the token "valid" locally after the server expired it.
    const auth = new KeystoneAuth({
      credentials: credentials(api.keystoneUrl),
      now: () => Date.now() - 3_600_000,
    });
    const nova = await NovaClient.connect({ auth });
    await new Promise((r) => setTimeout(r, 400));
    const services = await nova.computeServices();
    expect(services.length).toBe(4);
    expect(auth.tokenRequests).toBe(2);
  });
});

describe("OpenStack failures", () => {
  let hang: HttpServer | null = null;
  afterEach(async () => {
    if (hang) {
      hang.closeAllConnections();
      await new Promise((r) => hang!.close(r));
      hang = null;
    }
  });

  it("a wrong password fails with OPENSTACK_AUTH_FAILED and the message never shows it", async () => {
    const { api } = await sandbox("2.93");
    const wrong = "Wr0ng-Secret-Password";
    const err = await caught(new KeystoneAuth({ credentials: credentials(api.keystoneUrl, wrong) }).token());
    expect(err.code).toBe(OpenStackErrorCode.AuthFailed);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('user "migbot"');
    expect(err.message).toContain("Check the password");
    expect(`${err.message} ${JSON.stringify(err)}`).not.toContain(wrong);
  });

  it("a closed port is OPENSTACK_UNREACHABLE and retryable", async () => {
    const port = await freePort();
    const err = await caught(
      new KeystoneAuth({ credentials: credentials(`http://127.0.0.1:${port}/v3`) }).token(),
    );
    expect(err.code).toBe(OpenStackErrorCode.Unreachable);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain(`127.0.0.1:${port}`);
  });

  it("a server that never answers is OPENSTACK_TIMEOUT after the request timeout", async () => {
    hang = createServer(() => {});
    await new Promise<void>((r) => hang!.listen(0, "127.0.0.1", r));
    const { port } = hang.address() as { port: number };
    const started = Date.now();
    const err = await caught(
      new KeystoneAuth({ credentials: credentials(`http://127.0.0.1:${port}/v3`), timeoutMs: 200 }).token(),
    );
    expect(err.code).toBe(OpenStackErrorCode.Timeout);
    expect(err.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("a timed-out live-migrate is not retryable: it may have started", async () => {
    const { api, cloud } = await sandbox("2.93");
    // Nova's POST hangs; everything else goes through.
    const slowActions: typeof fetch = (input, init) =>
      String(input).endsWith("/action")
        ? new Promise((_, reject) =>
            init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)),
          )
        : fetch(input, init);
    const auth = new KeystoneAuth({ credentials: credentials(api.keystoneUrl), fetch: slowActions });
    const nova = await NovaClient.connect({ auth, fetch: slowActions, requestTimeoutMs: 200 });
    const err = await caught(nova.liveMigrate(DB1, { host: "cmp2" }));
    expect(err.code).toBe(OpenStackErrorCode.Timeout);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("check the server's migrations before trying again");
    expect(cloud.liveMigrateCalls).toEqual([]);
    const read = await caught(
      NovaClient.connect({
        auth,
        requestTimeoutMs: 200,
        fetch: (_input, init) =>
          new Promise((_, reject) =>
            init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)),
          ),
      }),
    );
    expect(read.code).toBe(OpenStackErrorCode.Timeout);
    expect(read.retryable).toBe(true);
  });

  it("a region the catalog lacks is a config error naming the regions there are", async () => {
    const { api } = await sandbox("2.93");
    const auth = new KeystoneAuth({
      credentials: { ...credentials(api.keystoneUrl), regionName: "RegionTwo" },
    });
    const err = await caught(NovaClient.connect({ auth }));
    expect(err.code).toBe(OpenStackErrorCode.ConfigInvalid);
    expect(err.message).toContain("RegionOne");
  });
});
