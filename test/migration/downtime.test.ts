/**
 * The auto-converge expectation the analyzer gets for one migration: per migration type, as the
 * source's nova-compute builds its flags (Mitaka: block migrations from block_migration_flag).
 */
import { describe, expect, it } from "vitest";
import type { HostsPort } from "../../src/hosts/port";
import { downtimeFiguresOf, migrationTypeOfRequest, novaConfDowntime } from "../../src/migration/downtime";
import { effectiveSettings } from "../../src/nova-conf/effective";
import { releaseByName } from "../../src/nova-conf/releases";

const GIB = 1024 ** 3;
/** A Mitaka compute where an operator added auto-converge to live_migration_flag only. */
const MITAKA_LIVE_ONLY =
  "[libvirt]\nlive_migration_flag = VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_AUTO_CONVERGE\n";
/** The same fix reaching both lists. */
const MITAKA_BOTH = `${MITAKA_LIVE_ONLY}block_migration_flag = VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_NON_SHARED_INC, VIR_MIGRATE_AUTO_CONVERGE\n`;

const conf = (text: string) => [{ path: "/etc/nova/nova.conf", text }];

describe("downtimeFiguresOf: auto-converge per migration type", () => {
  it("a Mitaka block migration reads auto-converge from block_migration_flag, a live one from live_migration_flag", () => {
    const s = effectiveSettings(conf(MITAKA_LIVE_ONLY), releaseByName("mitaka"));
    expect(downtimeFiguresOf(s, 8 * GIB, "13.1.4", "block").autoConverge).toBe(false);
    expect(downtimeFiguresOf(s, 8 * GIB, "13.1.4", "live").autoConverge).toBe(true);
    // Type unknown: on only where both lists have it.
    expect(downtimeFiguresOf(s, 8 * GIB, "13.1.4").autoConverge).toBe(false);
    const both = effectiveSettings(conf(MITAKA_BOTH), releaseByName("mitaka"));
    expect(downtimeFiguresOf(both, 8 * GIB, "13.1.4", "block").autoConverge).toBe(true);
  });

  it("from Newton one option decides for both types", () => {
    const s = effectiveSettings(
      conf("[libvirt]\nlive_migration_permit_auto_converge = true\n"),
      releaseByName("zed"),
    );
    expect(downtimeFiguresOf(s, 8 * GIB, "26.2.2", "block").autoConverge).toBe(true);
    expect(downtimeFiguresOf(s, 8 * GIB, "26.2.2", "live").autoConverge).toBe(true);
  });
});

describe("novaConfDowntime", () => {
  it("gives the figures for the migration type it is asked about, from one read of the host", async () => {
    const calls: string[] = [];
    const hosts: HostsPort = {
      has: () => true,
      run: async (_host, command) => {
        calls.push(command.kind);
        if (command.kind === "nova-compute-version") return { stdout: "", stderr: "13.1.4\n", exitCode: 0 };
        if (command.kind === "read-file" && command.path === "/etc/nova/nova.conf")
          return { stdout: MITAKA_LIVE_ONLY, stderr: "", exitCode: 0 };
        return { stdout: "", stderr: "No such file or directory\n", exitCode: 1 };
      },
    };
    const source = novaConfDowntime(hosts, { confPaths: () => ["/etc/nova/nova.conf"] });
    expect((await source("compute-1", 4 * GIB, "block"))!.autoConverge).toBe(false);
    expect((await source("compute-1", 4 * GIB, "live"))!.autoConverge).toBe(true);
    expect(calls).toEqual(["nova-compute-version", "read-file"]);
  });
});

describe("migrationTypeOfRequest", () => {
  it("below 2.25 migbot asks for a live migration; from 2.25 'auto' block-migrates a VM booted from an image", () => {
    expect(migrationTypeOfRequest("2.24", true)).toBe("live");
    expect(migrationTypeOfRequest("2.25", true)).toBe("block");
    expect(migrationTypeOfRequest("2.93", false)).toBe("live");
    expect(migrationTypeOfRequest("2.93", undefined)).toBeUndefined();
  });
});
