import { describe, expect, it } from "vitest";
import type { HostCommand } from "../../src/hosts/catalogue";
import { SandboxCloud, SERVICE_CRASH_DELAY_S, SERVICE_REPORT_INTERVAL_S } from "../../src/sandbox/cloud";
import { type CloudMigrationStatus, ControlPlaneError } from "../../src/sandbox/control-plane";
import { DEFAULT_SEED, type SandboxSeed } from "../../src/sandbox/seed";
import { readFixture } from "../support/fixtures";

const LOG = "/var/log/nova/nova-compute.log";

function newCloud(seed: SandboxSeed = DEFAULT_SEED): SandboxCloud {
  return new SandboxCloud({ seed, startTime: new Date("2026-03-01T10:00:00Z") });
}

function run(cloud: SandboxCloud, host: string, cmd: HostCommand) {
  return cloud.runCommand(host, cmd, { user: "root", sudo: false });
}

function logOf(cloud: SandboxCloud, host: string): string {
  return run(cloud, host, { kind: "tail-log", path: LOG, lines: 5000 }).stdout;
}

/** Edits a config file the way migbot does: temp file in the same folder, then an atomic rename. */
function writeConfig(cloud: SandboxCloud, host: string, path: string, text: string): void {
  const tmp = path.replace(/\/([^/]+)$/, "/.$1.migbot-tmp-test1");
  expect(run(cloud, host, { kind: "copy-file", from: path, to: tmp }).exitCode).toBe(0);
  expect(run(cloud, host, { kind: "write-file", path: tmp, content: text }).exitCode).toBe(0);
  expect(run(cloud, host, { kind: "rename-file", from: tmp, to: path }).exitCode).toBe(0);
}

function addToSection(text: string, section: string, lines: string): string {
  return text.replace(`[${section}]\n`, `[${section}]\n${lines}\n`);
}

function restart(cloud: SandboxCloud, host: string): void {
  expect(run(cloud, host, { kind: "systemctl-restart", service: "nova-compute" }).exitCode).toBe(0);
  cloud.advance(SERVICE_REPORT_INTERVAL_S + 1);
}

/** Follows one migration to its end, recording the statuses seen every half second. */
function follow(cloud: SandboxCloud, serverId: string, id: number, maxS: number) {
  const seen: CloudMigrationStatus[] = [];
  for (let t = 0; t < maxS * 2; t++) {
    const status = cloud.getMigration(serverId, id)!.status;
    if (seen[seen.length - 1] !== status) seen.push(status);
    if (["completed", "error", "cancelled"].includes(status)) break;
    cloud.advance(0.5);
  }
  return { seen, final: cloud.getMigration(serverId, id)!, elapsedS: cloud.nowS };
}

const labels = (text: string) =>
  text
    .split("\n")
    .filter((l) => l.includes(":"))
    .map((l) => l.slice(0, l.indexOf(":") + 1));

describe("sandbox cloud through the control plane", () => {
  it("moves vm-42 from compute-1 to compute-3 through Nova's statuses in order, in seconds", () => {
    const cloud = newCloud();
    const vm = cloud.vmByName("vm-42")!;
    const m = cloud.liveMigrate(vm.uuid, { host: "compute-3", blockMigration: "auto", asyncPrecheck: false });
    expect(m.status).toBe("queued");
    expect(cloud.getServer(vm.uuid)!.status).toBe("MIGRATING");

    // Follow it every half second; while it runs, the source answers domjobinfo like a real capture.
    const captured = readFixture("libvirt/virsh-outputs/virsh-domjobinfo-live-migration-run3-completed.txt");
    const firstBlock = captured.slice(
      captured.indexOf("Job type:"),
      captured.indexOf("\n\n", captured.indexOf("Job type:")),
    );
    const seen: CloudMigrationStatus[] = ["queued"];
    let jobInfo = "";
    for (let t = 0; t < 240 && seen[seen.length - 1] !== "completed"; t++) {
      cloud.advance(0.5);
      const status = cloud.getMigration(vm.uuid, m.id)!.status;
      if (seen[seen.length - 1] !== status) seen.push(status);
      if (status === "running" && jobInfo === "") {
        jobInfo = run(cloud, "compute-1", { kind: "virsh-domjobinfo", domain: vm.instanceName }).stdout;
      }
    }
    expect(labels(jobInfo)).toEqual(labels(firstBlock));
    expect(jobInfo).toMatch(/Operation:\s+Outgoing migration/);
    const final = cloud.getMigration(vm.uuid, m.id)!;
    const elapsedS = cloud.nowS;
    expect(seen).toEqual(["queued", "preparing", "running", "post-migrating", "completed"]);
    // At the default time scale (10 model s per real s) this is a couple of real seconds.
    expect(elapsedS).toBeLessThan(40);
    expect(final.memoryTotalBytes).toBe(2048 * 1024 * 1024);
    expect(cloud.getServer(vm.uuid)).toMatchObject({ host: "compute-3", status: "ACTIVE", taskState: null });
    expect(logOf(cloud, "compute-1")).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \d+ INFO nova\.compute\.manager \[req-[0-9a-f-]{36} - - - - -\] \[instance: 5a1dc0de-[0-9a-f-]+\] Migrating instance to compute-3 finished successfully\.$/m,
    );
    // Gone from the source, running on the destination, with completed stats there.
    expect(run(cloud, "compute-1", { kind: "virsh-domjobinfo", domain: vm.instanceName })).toMatchObject({
      exitCode: 1,
      stderr: `error: failed to get domain '${vm.instanceName}'\n\n`,
    });
    expect(run(cloud, "compute-3", { kind: "virsh-list" }).stdout).toMatch(/instance-0000002a\s+running/);
    const done = run(cloud, "compute-3", {
      kind: "virsh-domjobinfo",
      domain: vm.instanceName,
      completed: true,
    });
    expect(done.stdout).toMatch(/Job type:\s+Completed/);
    expect(done.stdout).toMatch(/Total downtime:\s+\d+\s+ms/);
  });

  it("db-1 never converges to compute-2 on Mitaka without auto-converge, nor with it in live_migration_flag only (a block migration); with it in block_migration_flag too it completes", () => {
    const cloud = newCloud();
    const db = cloud.vmByName("db-1")!;
    const first = cloud.liveMigrate(db.uuid, {
      host: "compute-2",
      blockMigration: "auto",
      asyncPrecheck: false,
    });
    const noAc = follow(cloud, db.uuid, first.id, 1200);
    expect(noAc.final.status).toBe("error");
    expect(cloud.getServer(db.uuid)).toMatchObject({ host: "compute-1", status: "ACTIVE" });
    const log = logOf(cloud, "compute-1");
    expect(log).toMatch(
      /WARNING nova\.virt\.libvirt\.driver \[req-[^\]]+\] \[instance: [^\]]+\] Live migration stuck for 1[5-9]\d sec/,
    );
    expect(log).toMatch(/ERROR nova\.virt\.libvirt\.driver .* Migration operation has aborted$/m);
    expect(log).toMatch(/Increasing downtime to 46 ms after 0 sec elapsed time/);

    // Edit compute-1's nova.conf: nothing changes until nova-compute restarts and re-reads it.
    const conf = run(cloud, "compute-1", { kind: "read-file", path: "/etc/nova/nova.conf" }).stdout;
    const liveOnly = addToSection(
      conf,
      "libvirt",
      "live_migration_flag = VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED, VIR_MIGRATE_AUTO_CONVERGE",
    );
    writeConfig(cloud, "compute-1", "/etc/nova/nova.conf", liveOnly);
    expect(cloud.hosts.get("compute-1")!.settings!.autoConvergeFor.live).toBe(false);
    expect(run(cloud, "compute-1", { kind: "stat-file", path: "/etc/nova/nova.conf" }).stdout).toMatch(
      /^640 root nova \d+\n$/,
    );
    restart(cloud, "compute-1");
    expect(cloud.hosts.get("compute-1")!.settings!.autoConvergeFor).toEqual({ live: true, block: false });

    // db-1 boots from a local disk, so block_migration "auto" is a block migration, and Mitaka builds
    // its flags from block_migration_flag, still without auto-converge: it never converges again.
    const blockWithout = cloud.liveMigrate(db.uuid, {
      host: "compute-2",
      blockMigration: "auto",
      asyncPrecheck: false,
    });
    let throttledBefore = false;
    const finished = () =>
      ["completed", "error", "cancelled"].includes(cloud.getMigration(db.uuid, blockWithout.id)!.status);
    for (let t = 0; t < 2400 && !finished(); t++) {
      cloud.advance(0.5);
      const out = run(cloud, "compute-1", { kind: "virsh-domjobinfo", domain: db.instanceName }).stdout;
      if (/Auto converge throttle: [1-9]\d*/.test(out)) throttledBefore = true;
    }
    expect(cloud.getMigration(db.uuid, blockWithout.id)!.status).toBe("error");
    expect(throttledBefore).toBe(false);

    writeConfig(
      cloud,
      "compute-1",
      "/etc/nova/nova.conf",
      addToSection(
        liveOnly,
        "libvirt",
        "block_migration_flag = VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED, VIR_MIGRATE_NON_SHARED_INC, VIR_MIGRATE_AUTO_CONVERGE",
      ),
    );
    restart(cloud, "compute-1");
    expect(cloud.hosts.get("compute-1")!.settings!.autoConvergeEffective).toBe(true);

    const second = cloud.liveMigrate(db.uuid, {
      host: "compute-2",
      blockMigration: "auto",
      asyncPrecheck: false,
    });
    let throttleSeen = false;
    for (let t = 0; t < 2400 && cloud.getMigration(db.uuid, second.id)!.status !== "completed"; t++) {
      cloud.advance(0.5);
      const out = run(cloud, "compute-1", { kind: "virsh-domjobinfo", domain: db.instanceName }).stdout;
      if (/Auto converge throttle: \d+/.test(out)) throttleSeen = true;
      if (cloud.getMigration(db.uuid, second.id)!.status === "error") break;
    }
    expect(cloud.getMigration(db.uuid, second.id)!.status).toBe("completed");
    expect(throttleSeen).toBe(true);
    expect(cloud.getServer(db.uuid)!.host).toBe("compute-2");
  });

  it("outcomes follow the numbers, not the names: a renamed db-1 behaves identically", () => {
    const renamed: SandboxSeed = {
      ...DEFAULT_SEED,
      vms: DEFAULT_SEED.vms.map((v) => (v.name === "db-1" ? { ...v, name: "zz-renamed" } : v)),
    };
    const results = [newCloud(), newCloud(renamed)].map((cloud) => {
      const vm = [...cloud.vms.values()].find((v) => v.seed.instanceId === 0x31)!;
      const m = cloud.liveMigrate(vm.uuid, {
        host: "compute-2",
        blockMigration: "auto",
        asyncPrecheck: false,
      });
      const r = follow(cloud, vm.uuid, m.id, 1200);
      return { status: r.final.status, elapsed: r.elapsedS, processed: r.final.memoryProcessedBytes };
    });
    expect(results[1]).toEqual(results[0]);
  });

  it("a nova.conf that does not parse makes nova-compute fail at restart, and Nova shows the service down", () => {
    const cloud = newCloud();
    const conf = run(cloud, "compute-3", { kind: "read-file", path: "/etc/nova/nova-compute.conf" }).stdout;
    writeConfig(cloud, "compute-3", "/etc/nova/nova-compute.conf", `${conf}this line is not ini\n`);
    expect(run(cloud, "compute-3", { kind: "systemctl-restart", service: "nova-compute" }).exitCode).toBe(0);
    cloud.advance(SERVICE_CRASH_DELAY_S + 1);
    expect(run(cloud, "compute-3", { kind: "systemctl-is-active", service: "nova-compute" })).toEqual({
      stdout: "failed\n",
      stderr: "",
      exitCode: 3,
    });
    expect(cloud.services().find((s) => s.host === "compute-3")!.state).toBe("down");
    expect(logOf(cloud, "compute-3")).toMatch(
      /CRITICAL nova \[-\] ConfigFileParseError: Failed to parse \/etc\/nova\/nova-compute\.conf: at line \d+, No ':' or '=' found in assignment/,
    );
    // Restoring the file and restarting brings it back: down briefly, then up.
    writeConfig(cloud, "compute-3", "/etc/nova/nova-compute.conf", conf);
    run(cloud, "compute-3", { kind: "systemctl-restart", service: "nova-compute" });
    expect(cloud.services().find((s) => s.host === "compute-3")!.state).toBe("down");
    cloud.advance(SERVICE_REPORT_INTERVAL_S + 1);
    expect(run(cloud, "compute-3", { kind: "systemctl-is-active", service: "nova-compute" }).stdout).toBe(
      "active\n",
    );
    expect(cloud.services().find((s) => s.host === "compute-3")!.state).toBe("up");
  });

  it("an invalid value for a known key also stops nova-compute (Zed: cpu_mode not a choice)", () => {
    const cloud = newCloud();
    const conf = run(cloud, "compute-4", { kind: "read-file", path: "/etc/nova/nova-compute.conf" }).stdout;
    writeConfig(
      cloud,
      "compute-4",
      "/etc/nova/nova-compute.conf",
      addToSection(conf, "libvirt", "cpu_mode = fastest"),
    );
    run(cloud, "compute-4", { kind: "systemctl-restart", service: "nova-compute" });
    cloud.advance(SERVICE_CRASH_DELAY_S + 1);
    expect(run(cloud, "compute-4", { kind: "systemctl-is-active", service: "nova-compute" }).stdout).toBe(
      "failed\n",
    );
    expect(logOf(cloud, "compute-4")).toMatch(/CRITICAL nova \[-\] ConfigFileValueError: .*cpu_mode/);
  });

  it("web-7 (host-model on Skylake) fails the CPU pre-check to Haswell until cpu_models = kvm64, a restart and a hard reboot", () => {
    const cloud = newCloud();
    const web = cloud.vmByName("web-7")!;
    const attempt = () =>
      cloud.liveMigrate(web.uuid, { host: "compute-5", blockMigration: "auto", asyncPrecheck: false });
    let err: unknown;
    try {
      attempt();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ControlPlaneError);
    expect((err as ControlPlaneError).status).toBe(400);
    expect((err as ControlPlaneError).message).toMatch(
      /^Migration pre-check error: CPU doesn't have compatibility\.\n\nthe CPU is incompatible with host CPU: Host CPU does not provide required features: [a-z0-9_., -]+\n\nRefer to http:\/\/libvirt\.org\/html\/libvirt-libvirt-host\.html#virCPUCompareResult$/,
    );
    expect(logOf(cloud, "compute-5")).toMatch(
      /ERROR nova\.virt\.libvirt\.driver \[None req-[^\]]+ - - - - - -\] CPU doesn't have compatibility\./,
    );

    for (const host of ["compute-3", "compute-5"]) {
      const conf = run(cloud, host, { kind: "read-file", path: "/etc/nova/nova-compute.conf" }).stdout;
      writeConfig(
        cloud,
        host,
        "/etc/nova/nova-compute.conf",
        addToSection(conf, "libvirt", "cpu_mode = custom\ncpu_models = kvm64"),
      );
      restart(cloud, host);
    }
    // The running guest still has the CPU it was started with.
    expect(attempt).toThrow(/CPU doesn't have compatibility/);
    cloud.hardReboot(web.uuid);
    expect(cloud.getServer(web.uuid)).toMatchObject({ status: "HARD_REBOOT", taskState: "rebooting_hard" });
    cloud.advance(10);
    expect(cloud.getServer(web.uuid)).toMatchObject({ status: "ACTIVE", taskState: null });
    const m = attempt();
    expect(follow(cloud, web.uuid, m.id, 300).final.status).toBe("completed");
    expect(cloud.getServer(web.uuid)!.host).toBe("compute-5");
  });

  it("with the async pre-check (2.34+) the call returns the migration, which then goes to error", () => {
    const cloud = newCloud();
    const web = cloud.vmByName("web-7")!;
    const m = cloud.liveMigrate(web.uuid, { host: "compute-5", blockMigration: "auto", asyncPrecheck: true });
    // The conductor's record starts `accepted`; the compute's `queued` never comes.
    expect(m.status).toBe("accepted");
    const r = follow(cloud, web.uuid, m.id, 30);
    expect(r.seen).toEqual(["accepted", "error"]);
    expect(cloud.getServer(web.uuid)).toMatchObject({ status: "ACTIVE", host: "compute-3" });
    expect(logOf(cloud, "compute-5")).toMatch(/Migration pre-check error: CPU doesn't have compatibility/);
  });

  it("a virt_type = qemu destination (the Mitaka hosts, 13.1.4) does not compare CPUs: Skylake's web-7 is accepted on Haswell", () => {
    const cloud = newCloud();
    const web = cloud.vmByName("web-7")!;
    expect(cloud.hosts.get("compute-1")!.settings).toMatchObject({
      virtType: "qemu",
      comparesCpuAsDestination: false,
    });
    const m = cloud.liveMigrate(web.uuid, {
      host: "compute-1",
      blockMigration: "auto",
      asyncPrecheck: false,
    });
    const r = follow(cloud, web.uuid, m.id, 300);
    expect(r.seen.slice(0, 3)).toEqual(["queued", "preparing", "running"]);
    expect(logOf(cloud, "compute-1")).not.toMatch(/CPU doesn't have compatibility/);
  });

  it("refuses with Nova's wordings: unknown host, same host, no room, not ACTIVE; the scheduler picks a host", () => {
    const cloud = newCloud();
    const vm = cloud.vmByName("vm-42")!;
    const db = cloud.vmByName("db-1")!;
    const req = (host: string | null) => ({ host, blockMigration: "auto" as const, asyncPrecheck: false });
    expect(() => cloud.liveMigrate(vm.uuid, req("compute-9"))).toThrow(
      "Compute host compute-9 could not be found.",
    );
    expect(() => cloud.liveMigrate(vm.uuid, req("compute-1"))).toThrow(
      `Unable to migrate instance (${vm.uuid}) to current host (compute-1).`,
    );
    // compute-4 has 32 GiB with analytics-1 (24 GiB) on it. With ram_allocation_ratio = 1.0 there
    // is no room for db-1's 8 GiB: (32768 − 512) × 1.0 < 24576 + 8192.
    const conf = run(cloud, "compute-4", { kind: "read-file", path: "/etc/nova/nova-compute.conf" }).stdout;
    writeConfig(
      cloud,
      "compute-4",
      "/etc/nova/nova-compute.conf",
      addToSection(conf, "DEFAULT", "ram_allocation_ratio = 1.0"),
    );
    restart(cloud, "compute-4");
    expect(() => cloud.liveMigrate(db.uuid, req("compute-4"))).toThrow(/not enough capacity on the host/);
    const m = cloud.liveMigrate(vm.uuid, req(null));
    expect(["compute-2", "compute-3", "compute-5"]).toContain(m.destCompute);
    try {
      cloud.liveMigrate(vm.uuid, req("compute-3"));
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({
        status: 409,
        message: `Cannot 'os-migrateLive' instance ${vm.uuid} while it is in task_state migrating`,
      });
    }
    const free = cloud.hypervisors().find((h) => h.hypervisorHostname === "compute-4")!;
    expect(free.freeRamMb).toBe(32768 - 512 - 24576);
  });

  it("RAM overcommit as Nova counts it: Zed's default ram_allocation_ratio 1.5 lets db-1 onto compute-4", () => {
    const cloud = newCloud();
    const db = cloud.vmByName("db-1")!;
    // Placement: (32768 − 512) × 1.5 = 48384 MiB ≥ 24576 (analytics-1) + 8192 (db-1).
    const m = cloud.liveMigrate(db.uuid, { host: "compute-4", blockMigration: "auto", asyncPrecheck: false });
    expect(m.destCompute).toBe("compute-4");
  });

  it("abort cancels the job and the guest keeps running on the source; force-complete finishes a stuck one", () => {
    const cloud = newCloud();
    const db = cloud.vmByName("db-1")!;
    const m = cloud.liveMigrate(db.uuid, { host: "compute-2", blockMigration: "auto", asyncPrecheck: false });
    cloud.advance(40);
    expect(cloud.getMigration(db.uuid, m.id)!.status).toBe("running");
    cloud.abortMigration(db.uuid, m.id);
    expect(cloud.getMigration(db.uuid, m.id)!.status).toBe("cancelled");
    expect(cloud.getServer(db.uuid)).toMatchObject({ host: "compute-1", status: "ACTIVE" });
    expect(logOf(cloud, "compute-1")).toMatch(
      /WARNING nova\.virt\.libvirt\.driver .* Migration operation was cancelled$/m,
    );
    expect(run(cloud, "compute-1", { kind: "virsh-domjobinfo", domain: db.instanceName }).stdout).toMatch(
      /^Job type:\s+None/,
    );

    const again = cloud.liveMigrate(db.uuid, {
      host: "compute-2",
      blockMigration: "auto",
      asyncPrecheck: false,
    });
    cloud.advance(40);
    cloud.forceComplete(db.uuid, again.id);
    expect(follow(cloud, db.uuid, again.id, 120).final.status).toBe("completed");
  });

  it("answers file and version commands like the real tools", () => {
    const cloud = newCloud();
    expect(run(cloud, "compute-2", { kind: "read-file", path: "/etc/nova/nope.conf" })).toEqual({
      stdout: "",
      stderr: "cat: /etc/nova/nope.conf: No such file or directory\n",
      exitCode: 1,
    });
    expect(run(cloud, "compute-3", { kind: "nova-compute-version" }).stdout).toBe("26.2.2\n");
    // Python 2.7's argparse (Mitaka) prints --version on stderr.
    expect(run(cloud, "compute-1", { kind: "nova-compute-version" })).toMatchObject({
      stdout: "",
      stderr: "13.1.4\n",
    });
    expect(run(cloud, "compute-3", { kind: "read-file", path: "/etc/nova/nova.conf" }).stdout).toContain(
      "#live_migration_permit_auto_converge = false",
    );
    expect(run(cloud, "compute-3", { kind: "virsh-capabilities" }).stdout).toContain(
      "<model>Skylake-Client</model>",
    );
  });
});
