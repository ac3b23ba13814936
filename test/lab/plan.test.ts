/**
 * The lab's pure parts, on every machine: layout, the files each host gets, fingerprints as OpenSSH
 * prints them, the guest's domain XML, and domjobinfo read from the captured lab series. The CLI's
 * refusals (not root: exit 2; no namespaces: exit 3) are checked here too when the test runs as root,
 * by dropping to `nobody` or dropping CAP_SYS_ADMIN.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "ini";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseDomJobInfo } from "../../src/lab/domjobinfo";
import { guestDomainXml, instanceName } from "../../src/lab/guest";
import { virshMigrateArgs } from "../../src/lab/migrate";
import {
  LIBVIRT_QEMU_ACCOUNT,
  planLab,
  publicKeyFingerprint,
  renderEtcHosts,
  renderHostSshClientConfig,
  renderInventory,
  renderKnownHosts,
  renderLibvirtdConf,
  renderNovaConf,
  renderQemuConf,
  renderSshdConfig,
  withLibvirtQemuAccount,
} from "../../src/lab/plan";
import { PROJECT_ROOT, readFixture } from "../support/fixtures";

const CLI_TIMEOUT_MS = 20_000;

function series(relative: string): string[] {
  return readFixture(relative)
    .split(/^== /m)
    .filter((block) => block.includes("Job type:"));
}

describe("lab layout", () => {
  it("gives 3 hosts by default, alternating Mitaka and Newton+ nova.conf, addresses 10.99.0.1N", () => {
    const plan = planLab({ stateDir: "/run/x-lab" });
    expect(plan.hosts.map((h) => [h.name, h.address, h.release])).toEqual([
      ["cmp1", "10.99.0.11", "mitaka"],
      ["cmp2", "10.99.0.12", "zed"],
      ["cmp3", "10.99.0.13", "mitaka"],
    ]);
    expect(new Set(plan.hosts.map((h) => h.hostUuid)).size).toBe(3);
    expect(plan.hosts[0]!.binds.map((b) => b.target)).toEqual(
      expect.arrayContaining(["/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt"]),
    );
    for (const bind of plan.hosts[1]!.binds) expect(bind.source.startsWith("/run/x-lab/cmp2/")).toBe(true);
  });

  it("refuses host counts and state dirs it cannot serve, saying what is allowed", () => {
    expect(() => planLab({ hosts: 1 })).toThrow(/from 2 to 9/);
    expect(() => planLab({ hosts: 10 })).toThrow(/from 2 to 9/);
    expect(() => planLab({ stateDir: "relative/dir" })).toThrow(/absolute path/);
    expect(() => planLab({ stateDir: "/tmp/with space" })).toThrow(/without spaces/);
  });

  it("keeps a host's libvirt UUID across ups (derived from its name) and valid", () => {
    const a = planLab({ stateDir: "/a" }).hosts[0]!.hostUuid;
    const b = planLab({ stateDir: "/b" }).hosts[0]!.hostUuid;
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe("files each host gets", () => {
  const plan = planLab({ stateDir: "/run/x-lab" });
  const [cmp1, cmp2] = plan.hosts as [(typeof plan.hosts)[0], (typeof plan.hosts)[0]];

  it("nova.conf: Mitaka hosts switch auto-converge only through live_migration_flag, Newton+ through permit", () => {
    const mitaka = parse(renderNovaConf(cmp1)) as Record<string, Record<string, unknown>>;
    const zed = parse(renderNovaConf(cmp2)) as Record<string, Record<string, unknown>>;
    expect(mitaka.DEFAULT!.host).toBe("cmp1");
    expect(mitaka.libvirt!.live_migration_flag).toContain("VIR_MIGRATE_PEER2PEER");
    expect(mitaka.libvirt!.live_migration_flag).not.toContain("AUTO_CONVERGE");
    expect(mitaka.libvirt!.live_migration_permit_auto_converge).toBeUndefined();
    expect(zed.libvirt!.live_migration_permit_auto_converge).toBe(false);
    expect(zed.libvirt!.live_migration_flag).toBeUndefined();
    expect(zed.libvirt!.live_migration_bandwidth).toBe("8");
  });

  it("sshd: key only, no PAM, own host key and the lab client key as the only authorized key", () => {
    const text = renderSshdConfig(plan, cmp1);
    for (const line of [
      "UsePAM no",
      "StrictModes no",
      "PasswordAuthentication no",
      "HostKey /etc/ssh/ssh_host_ed25519_key",
      `AuthorizedKeysFile ${plan.clientKeyPath}.pub`,
    ]) {
      expect(text.split("\n")).toContain(line);
    }
  });

  it("libvirt: distinct host_uuid, QEMU as root without sVirt, cgroups or virtlogd", () => {
    expect(renderLibvirtdConf(cmp1)).toContain(`host_uuid = "${cmp1.hostUuid}"`);
    expect(renderLibvirtdConf(cmp2)).toContain(`host_uuid = "${cmp2.hostUuid}"`);
    const qemu = renderQemuConf();
    for (const line of [
      'user = "root"',
      'group = "root"',
      'security_driver = "none"',
      "dynamic_ownership = 0",
      "cgroup_controllers = [ ]",
      'stdio_handler = "file"',
    ]) {
      expect(qemu.split("\n")).toContain(line);
    }
  });

  it("/etc/hosts names every host; SSH between hosts uses pinned keys and the lab key", () => {
    const hosts = renderEtcHosts(plan);
    expect(hosts).toMatch(/^10\.99\.0\.12 cmp2$/m);
    expect(hosts).not.toMatch(/127\.0\.1\.1/);
    const client = renderHostSshClientConfig(plan);
    expect(client).toContain("StrictHostKeyChecking yes");
    expect(client).toContain(`IdentityFile ${plan.clientKeyPath}`);
    const known = renderKnownHosts(
      plan,
      new Map(
        plan.hosts.map((h) => [h.name, `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${h.index}x root@${h.name}`]),
      ),
    );
    expect(known.split("\n")[1]).toBe("cmp2,10.99.0.12 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI2x");
  });

  it("adds the libvirt-qemu account libvirtd looks up only when the real files lack it", () => {
    const passwd =
      "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const group = "root:x:0:\nnogroup:x:65534:\n";
    const out = withLibvirtQemuAccount(passwd, group);
    expect(out.passwd.startsWith(passwd)).toBe(true);
    expect(out.passwd).toMatch(new RegExp(`^${LIBVIRT_QEMU_ACCOUNT}:x:64055:64055:`, "m"));
    expect(out.group).toMatch(/^libvirt-qemu:x:64055:$/m);
    expect(out.group).toMatch(/^kvm:x:\d+:$/m);
    expect(withLibvirtQemuAccount(out.passwd, out.group)).toEqual(out);
  });
});

describe("host key fingerprints", () => {
  it("match what ssh-keygen -lf prints for the same key", () => {
    const dir = mkdtempSync(join(tmpdir(), "lab-fp-"));
    try {
      const key = join(dir, "k");
      const made = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
      if (made.status !== 0) throw new Error("ssh-keygen is needed: apt-get install -y openssh-client");
      const line = readFileSync(`${key}.pub`, "utf8");
      const printed = spawnSync("ssh-keygen", ["-lf", `${key}.pub`], { encoding: "utf8" }).stdout.split(
        " ",
      )[1];
      expect(publicKeyFingerprint(line)).toBe(printed);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("end up in an inventory the bot reads as HostEntry[] (user root, pinned key, release)", () => {
    const plan = planLab({ hosts: 2, stateDir: "/run/x-lab" });
    const fingerprints = new Map([
      ["cmp1", "SHA256:aaa"],
      ["cmp2", "SHA256:bbb"],
    ]);
    const inventory = parseYaml(renderInventory(plan, fingerprints)) as { hosts: Record<string, unknown>[] };
    expect(inventory.hosts[1]).toEqual({
      name: "cmp2",
      address: "10.99.0.12",
      port: 22,
      user: "root",
      privateKeyPath: "/run/x-lab/client_ed25519",
      hostKeyFingerprints: ["SHA256:bbb"],
      release: "zed",
      novaConfPaths: ["/etc/nova/nova.conf"],
    });
  });
});

describe("guest domain and migration command", () => {
  it("boots the ELF under TCG with 128 MiB, one vCPU, a serial file and no balloon", () => {
    const xml = guestDomainXml({ name: instanceName(42), kernelPath: "/run/x-lab/guest/dirty.elf" });
    expect(xml).toContain("<domain type='qemu'>");
    expect(xml).toContain("<name>instance-0000002a</name>");
    expect(xml).toContain("<memory unit='MiB'>128</memory>");
    expect(xml).toContain("<vcpu placement='static'>1</vcpu>");
    expect(xml).toContain("<kernel>/run/x-lab/guest/dirty.elf</kernel>");
    expect(xml).toContain("<source path='/var/log/libvirt/qemu/instance-0000002a.serial.log'/>");
    expect(xml).toContain("<memballoon model='none'/>");
  });

  it("builds virsh migrate flags like Nova's peer-to-peer live migration, auto-converge only when asked", () => {
    expect(virshMigrateArgs({ domain: "instance-00000001", to: "cmp2", bandwidthMiBps: 5 })).toEqual([
      "migrate",
      "--live",
      "--p2p",
      "--persistent",
      "--undefinesource",
      "--bandwidth",
      "5",
      "instance-00000001",
      "qemu+ssh://cmp2/system",
    ]);
    const withAc = virshMigrateArgs({
      domain: "i",
      to: "cmp3",
      autoConverge: { initialPercent: 50, incrementPercent: 20 },
    });
    expect(withAc.join(" ")).toContain(
      "--auto-converge --auto-converge-initial 50 --auto-converge-increment 20",
    );
  });
});

describe("domjobinfo from the captured lab runs", () => {
  it("reads iterations rising and remaining data in bytes while a migration does not converge", () => {
    const infos = series("libvirt-lab/domjobinfo-series-no-autoconverge.txt").map(parseDomJobInfo);
    expect(infos[0]).toMatchObject({ jobType: "Unbounded", iteration: 1, timeElapsedMs: 1293 });
    expect(infos[0]!.dataRemainingBytes).toBe(Math.round(108.535 * 1024 * 1024));
    const iterations = infos.map((i) => i.iteration ?? 0);
    expect(iterations.at(-1)).toBe(7);
    expect(iterations.every((n, k) => k === 0 || n >= iterations[k - 1]!)).toBe(true);
    expect(infos.every((i) => i.autoConvergeThrottlePercent === undefined)).toBe(true);
  });

  it("reads the auto-converge throttle and the completed job on the destination", () => {
    const infos = series("libvirt-lab/domjobinfo-series-autoconverge-50-20.txt").map(parseDomJobInfo);
    const throttles = [
      ...new Set(infos.map((i) => i.autoConvergeThrottlePercent).filter((t) => t !== undefined)),
    ];
    expect(throttles).toEqual([50, 70, 90]);
    const completed = infos.at(-1)!;
    expect(completed.jobType).toBe("Completed");
    expect(completed.iteration).toBe(14);
    expect(completed.fields["Total downtime"]).toBe("25 ms");
    expect(completed.fields["Time elapsed w/o network"]).toBe("51158 ms");
  });
});

describe.skipIf(process.getuid?.() !== 0)(
  "migbot lab refusals (run as root, which can drop privileges)",
  () => {
    const cli = (prefix: string[], args: string[]) => {
      const argv = [...prefix, process.execPath, join(PROJECT_ROOT, "bin/migbot.mjs"), "lab", ...args];
      return spawnSync(argv[0]!, argv.slice(1), {
        encoding: "utf8",
        timeout: CLI_TIMEOUT_MS,
        cwd: PROJECT_ROOT,
      });
    };

    it("exits 2 with a clear message when not root", () => {
      const result = cli(["runuser", "-u", "nobody", "--"], ["status", "--state-dir", "/nonexistent/lab"]);
      expect(result.status).toBe(2);
      expect(result.stderr).toContain("[LAB_NOT_ROOT]");
      expect(result.stderr).toContain("must run as root");
    });

    it("exits 3 saying why when the kernel refuses namespaces (root without CAP_SYS_ADMIN)", () => {
      const dir = mkdtempSync(join(tmpdir(), "lab-nons-"));
      try {
        const result = cli(
          ["setpriv", "--bounding-set", "-sys_admin", "--"],
          ["up", "--state-dir", join(dir, "s")],
        );
        expect(result.status).toBe(3);
        expect(result.stderr).toContain("[LAB_NAMESPACES_UNAVAILABLE]");
        expect(result.stderr).toMatch(/unshare .* said "unshare: unshare failed: Operation not permitted"/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("exits 2 on an unknown action and 6 when no lab is recorded", () => {
      expect(cli([], ["sideways"]).status).toBe(2);
      const none = cli([], ["status", "--state-dir", "/nonexistent/lab"]);
      expect(none.status).toBe(6);
      expect(none.stderr).toContain("[LAB_NOT_UP]");
    });
  },
);
