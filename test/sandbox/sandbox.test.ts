import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type Sandbox, startSandbox } from "../../src/sandbox/index";
import { requireProgram } from "../support/programs";

const exec = promisify(execFile);
const SSH_TIMEOUT_MS = 15_000;

let sandbox: Sandbox;

beforeAll(async () => {
  // A frozen clock: the test moves model time itself.
  sandbox = await startSandbox({ timeScale: 0 });
});

afterAll(async () => {
  await sandbox?.stop();
});

async function ssh(
  hostName: string,
  command: string,
): Promise<{ stdout: string; stderr: string; code: number }> {
  const bin = requireProgram("ssh", "openssh-client");
  const host = sandbox.hosts.find((h) => h.name === hostName)!;
  try {
    const r = await exec(
      bin,
      [
        "-p",
        String(host.port),
        "-i",
        sandbox.privateKeyPath,
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
        "root@127.0.0.1",
        command,
      ],
      { timeout: SSH_TIMEOUT_MS },
    );
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe("startSandbox", () => {
  it("writes a usable inventory, a 0600 client key and a clouds.yaml for its Keystone", async () => {
    expect(sandbox.hosts).toHaveLength(5);
    expect(((await stat(sandbox.privateKeyPath)).mode & 0o777).toString(8)).toBe("600");
    expect(await readFile(sandbox.privateKeyPath, "utf8")).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
    const inventory = parse(await readFile(sandbox.inventoryPath, "utf8")) as {
      hosts: { name: string; port: number }[];
    };
    expect(inventory.hosts.map((h) => h.name)).toEqual([
      "compute-1",
      "compute-2",
      "compute-3",
      "compute-4",
      "compute-5",
    ]);
    const clouds = parse(await readFile(sandbox.cloudsYamlPath, "utf8"));
    expect(clouds.clouds["migbot-sandbox"].auth.auth_url).toBe(sandbox.keystoneUrl);
    expect(new Set(sandbox.hosts.map((h) => h.hostKeyFingerprints![0])).size).toBe(5);
  });

  it("a migration started over the Nova HTTP API shows up in virsh domjobinfo over stock OpenSSH", async () => {
    const auth = await fetch(`${sandbox.keystoneUrl}/auth/tokens`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ["password"],
            password: {
              user: {
                name: sandbox.credentials.username,
                domain: { name: sandbox.credentials.userDomainName },
                password: sandbox.credentials.password,
              },
            },
          },
          scope: {
            project: {
              name: sandbox.credentials.projectName,
              domain: { name: sandbox.credentials.projectDomainName },
            },
          },
        },
      }),
    });
    expect(auth.status).toBe(201);
    const token = auth.headers.get("x-subject-token")!;
    const headers = {
      "X-Auth-Token": token,
      "X-OpenStack-Nova-API-Version": "2.30",
      "Content-Type": "application/json",
    };
    const vm = sandbox.cloud.vmByName("vm-42")!;
    const migrate = await fetch(`${sandbox.novaUrl}/servers/${vm.uuid}/action`, {
      method: "POST",
      headers,
      body: JSON.stringify({ "os-migrateLive": { host: "compute-3", block_migration: "auto" } }),
    });
    expect(migrate.status).toBe(202);
    sandbox.cloud.advance(6);

    const job = await ssh("compute-1", `virsh domjobinfo ${vm.instanceName}`);
    expect(job.code).toBe(0);
    expect(job.stdout).toMatch(/^Job type:\s+Unbounded\s*\nOperation:\s+Outgoing migration\n/);
    expect(job.stdout).toMatch(/\nMemory remaining: \d+\.\d{3} (MiB|GiB)\n/);

    const listed = await fetch(`${sandbox.novaUrl}/servers/${vm.uuid}/migrations`, { headers });
    const body = (await listed.json()) as { migrations: { status: string; memory_total_bytes: number }[] };
    expect(body.migrations[0]).toMatchObject({ status: "running", memory_total_bytes: 2048 * 1024 * 1024 });

    sandbox.cloud.advance(60);
    const server = (await (await fetch(`${sandbox.novaUrl}/servers/${vm.uuid}`, { headers })).json()) as {
      server: Record<string, unknown>;
    };
    expect(server.server["OS-EXT-SRV-ATTR:host"]).toBe("compute-3");
    expect((await ssh("compute-3", "virsh list --all")).stdout).toMatch(/instance-0000002a\s+running/);
    const tail = await ssh("compute-1", "tail -n 5 -- /var/log/nova/nova-compute.log");
    expect(tail.stdout).toContain("Migrating instance to compute-3 finished successfully.");
  });

  it("answers the catalogue only: anything else is command not found (127)", async () => {
    const r = await ssh("compute-2", "uname -a");
    expect(r.code).toBe(127);
    expect(r.stderr).toContain("uname: command not found");
  });
});
