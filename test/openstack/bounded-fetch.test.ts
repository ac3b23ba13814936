// The worker's Nova and Keystone transport (src/runtime/nova.ts boundedFetch: undici.request over a
// bounded pool instead of fetch) must behave as fetch did for the OpenStack clients: answers, Nova's
// refusals, the token header, timeouts and unreachable endpoints.
import { createServer, type Server as HttpServer } from "node:http";
import { afterAll, expect, test } from "vitest";
import type { OpenStackCredentials } from "../../src/openstack/config";
import { OpenStackError, OpenStackErrorCode } from "../../src/openstack/errors";
import { KeystoneAuth } from "../../src/openstack/keystone";
import { NovaClient } from "../../src/openstack/nova";
import { boundedFetch } from "../../src/runtime/nova";
import { type NovaApi, startNovaApi } from "../../src/sandbox/nova-api";
import { freePort } from "../support/programs";
import { FakeCloud } from "./fake-cloud";

const PASSWORD = "Sandbox-Pa55word-never-shown";
const DB1 = "8600d31b-d1a1-4632-b2ff-45c2be1a70ff";

function credentials(authUrl: string): OpenStackCredentials {
  return {
    authUrl,
    username: "migbot",
    password: PASSWORD,
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

const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(closers.map((c) => c()));
});

test("over the bounded pool, Nova is negotiated, read, live-migrated and refuses with its own message", async () => {
  const cloud = new FakeCloud();
  const api: NovaApi = await startNovaApi({
    controlPlane: cloud,
    credentials: {
      username: "migbot",
      password: PASSWORD,
      projectName: "admin",
      userDomainName: "Default",
      projectDomainName: "Default",
      regionName: "RegionOne",
    },
    maxMicroversion: "2.93",
  });
  closers.push(() => api.close());
  const fetch = boundedFetch(2);
  // Keystone's token comes back in a header (X-Subject-Token): the light answer must carry headers.
  const auth = new KeystoneAuth({ credentials: credentials(api.keystoneUrl), fetch });
  const nova = await NovaClient.connect({ auth, fetch });
  expect(nova.microversion).toBe("2.93");

  // More calls at once than the pool has connections: they queue, and all are answered.
  const servers = await Promise.all(Array.from({ length: 6 }, () => nova.getServer(DB1)));
  expect(servers.map((s) => s.host)).toEqual(Array(6).fill("cmp1"));
  expect(auth.tokenRequests).toBe(1);

  await nova.liveMigrate(DB1, { host: "cmp2" });
  expect(cloud.liveMigrateCalls.at(-1)?.request).toMatchObject({ host: "cmp2" });
  const [migration] = await nova.listServerMigrations(DB1);
  expect(migration).toMatchObject({ status: "running", destCompute: "cmp2" });

  const unknownHost = await caught(
    nova.liveMigrate("9128d044-7b61-403e-b766-7547076ff6c1", { host: "cmp9" }),
  );
  expect(unknownHost.code).toBe(OpenStackErrorCode.BadRequest);
  expect(unknownHost.message).toBe("Compute host cmp9 could not be found.");
});

test("over the bounded pool, a closed port is OPENSTACK_UNREACHABLE with the socket's reason", async () => {
  const port = await freePort();
  const auth = new KeystoneAuth({
    credentials: credentials(`http://127.0.0.1:${port}/v3`),
    fetch: boundedFetch(),
  });
  const err = await caught(auth.token());
  expect(err.code).toBe(OpenStackErrorCode.Unreachable);
  expect(err.retryable).toBe(true);
  expect(err.message).toContain("ECONNREFUSED");
});

test("over the bounded pool, a server that never answers is OPENSTACK_TIMEOUT", async () => {
  const hang: HttpServer = createServer(() => {});
  await new Promise<void>((r) => hang.listen(0, "127.0.0.1", r));
  closers.push(async () => {
    hang.closeAllConnections();
    await new Promise((r) => hang.close(r));
  });
  const { port } = hang.address() as { port: number };
  const auth = new KeystoneAuth({
    credentials: credentials(`http://127.0.0.1:${port}/v3`),
    fetch: boundedFetch(),
    timeoutMs: 200,
  });
  const err = await caught(auth.token());
  expect(err.code).toBe(OpenStackErrorCode.Timeout);
  expect(err.retryable).toBe(true);
});
