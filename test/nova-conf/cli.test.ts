import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { command } from "../../src/cli/nova-conf";
import { PROJECT_ROOT, readFixture } from "../support/fixtures";

/** Generous: one tsx start-up on two busy cores. */
const CLI_SPAWN_TIMEOUT_MS = 20_000;

let dir: string;
let out: string;
let err: string;

async function run(...argv: string[]): Promise<number> {
  out = "";
  err = "";
  const w = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const l = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => {
    out += `${a.join(" ")}\n`;
  });
  const e = vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => {
    err += `${a.join(" ")}\n`;
  });
  try {
    return await command.run(argv);
  } finally {
    w.mockRestore();
    l.mockRestore();
    e.mockRestore();
  }
}

function put(name: string, text: string, mode = 0o640): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "migbot-nova-conf-cli-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("migbot nova-conf plan", () => {
  it("prints the unified diff and leaves the files alone without --write", async () => {
    const zed = readFixture("nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf");
    const nova = put("nova.conf", zed);
    const compute = put(
      "nova-compute.conf",
      readFixture("nova-conf/nova-compute.conf-zed-26.2.2-debian-kvm.conf"),
    );
    expect(await run("plan", "--fix", "cpu-model", "--release", "Zed", nova, compute)).toBe(0);
    expect(out).toContain(`--- a${nova}\n+++ b${nova}\n`);
    expect(out).toContain("-#cpu_mode = <None>\n+cpu_mode = custom\n");
    expect(out).toContain("-#cpu_models =\n+cpu_models = kvm64\n");
    expect(out).not.toContain("nova-compute.conf");
    expect(err).toMatch(/hard reboot/);
    expect(readFileSync(nova, "utf8")).toBe(zed);
  });

  it("--write applies atomically, keeps the mode, leaves no temp file, and a second run prints nothing", async () => {
    const before = "[DEFAULT]\r\ndebug = false\r\n\r\n[libvirt]\r\nvirt_type = kvm\r\n";
    const nova = put("nova.conf", before, 0o640);
    expect(await run("plan", "--fix=auto-converge", "--release=2023.1", "--write", nova)).toBe(0);
    expect(readFileSync(nova, "utf8")).toBe(`${before}live_migration_permit_auto_converge = true\r\n`);
    expect(statSync(nova).mode & 0o7777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(["nova.conf"]);
    expect(err).toMatch(/wrote .*nova\.conf \(\[libvirt\] live_migration_permit_auto_converge\)/);

    expect(await run("plan", "--fix", "auto-converge", "--release", "antelope", "--write", nova)).toBe(0);
    expect(out).toBe("");
  });

  it.skipIf(process.getuid?.() !== 0)("--write keeps the file's owner and group (as root)", async () => {
    const nova = put("nova.conf", "[libvirt]\n", 0o640);
    chownSync(nova, 4242, 4343);
    expect(
      await run("plan", "--fix", "cpu-model", "--release", "mitaka", "--model", "Haswell", "--write", nova),
    ).toBe(0);
    expect(readFileSync(nova, "utf8")).toBe("[libvirt]\ncpu_mode = custom\ncpu_model = Haswell\n");
    expect([statSync(nova).uid, statSync(nova).gid]).toEqual([4242, 4343]);
  });

  it("exits 2 naming file and line when a file does not parse, and touches no file", async () => {
    const good = put("nova.conf", "[libvirt]\nvirt_type = kvm\n");
    const bad = put("nova-compute.conf", "[libvirt]\nvirt_type = kvm\n[DEFAULT\n");
    expect(await run("plan", "--fix", "auto-converge", "--release", "zed", "--write", good, bad)).toBe(2);
    expect(err).toContain(`NOVA_CONF_PARSE: ${bad}:3: Invalid section (must end with ])`);
    expect(out).toBe("");
    expect(readFileSync(good, "utf8")).toBe("[libvirt]\nvirt_type = kvm\n");
    expect(readFileSync(bad, "utf8")).toBe("[libvirt]\nvirt_type = kvm\n[DEFAULT\n");
  });

  it("exits 2 on bad arguments and an unknown release, and 0 with usage for --help", async () => {
    const nova = put("nova.conf", "[libvirt]\n");
    expect(await run("plan", "--fix", "turbo", "--release", "zed", nova)).toBe(2);
    expect(err).toMatch(/--fix must be one of auto-converge, cpu-model/);
    expect(await run("plan", "--fix", "auto-converge", "--release", "liberty", nova)).toBe(2);
    expect(err).toMatch(/NOVA_CONF_UNKNOWN_RELEASE/);
    expect(await run("plan", "--fix", "auto-converge", "--release", "zed", join(dir, "missing.conf"))).toBe(
      2,
    );
    expect(err).toMatch(/cannot read .*missing\.conf: ENOENT/);
    expect(await run("--help")).toBe(0);
    expect(out).toMatch(/usage: migbot nova-conf plan/);
  });

  it("runs end to end through bin/migbot.mjs", () => {
    const nova = put(
      "nova.conf",
      readFixture("nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf"),
    );
    const res = spawnSync(
      process.execPath,
      [
        join(PROJECT_ROOT, "bin/migbot.mjs"),
        "nova-conf",
        "plan",
        "--fix",
        "auto-converge",
        "--release",
        "mitaka",
        nova,
      ],
      { encoding: "utf8", timeout: CLI_SPAWN_TIMEOUT_MS },
    );
    expect(res.status).toBe(0);
    expect(res.stdout).toBe(
      [
        `--- a${nova}`,
        `+++ b${nova}`,
        "@@ -72,3 +72,5 @@",
        " # LIBVIRT",
        " [libvirt]",
        " virt_type=qemu",
        "+live_migration_flag=VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED, VIR_MIGRATE_AUTO_CONVERGE",
        // Mitaka's block migrations (every VM on a local disk) take their flags from this list.
        "+block_migration_flag=VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED, VIR_MIGRATE_NON_SHARED_INC, VIR_MIGRATE_AUTO_CONVERGE",
        "",
      ].join("\n"),
    );
    const broken = put("broken.conf", "\uFEFF[DEFAULT]\n");
    const bad = spawnSync(
      process.execPath,
      [
        join(PROJECT_ROOT, "bin/migbot.mjs"),
        "nova-conf",
        "plan",
        "--fix",
        "cpu-model",
        "--release",
        "zed",
        "--write",
        broken,
      ],
      { encoding: "utf8", timeout: CLI_SPAWN_TIMEOUT_MS },
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/broken\.conf:1: .*byte-order mark/);
    expect(readFileSync(broken, "utf8")).toBe("\uFEFF[DEFAULT]\n");
  });
});
