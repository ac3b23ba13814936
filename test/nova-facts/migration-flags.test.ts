import { describe, expect, it } from "vitest";
import {
  flagOptions,
  MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT,
  MITAKA_LIVE_MIGRATION_FLAG_DEFAULT,
  migrationFlags,
} from "../../src/nova-facts";
import {
  MITAKA_LIBVIRT_TABLE,
  MITAKA_LIVE_MIGRATION_TABLE,
  sampleOptions,
  tableDefaults,
  ZED_SAMPLE,
} from "./config-docs";

describe("Mitaka's flag strings", () => {
  it("default to what the Mitaka tables document", () => {
    expect(tableDefaults(MITAKA_LIVE_MIGRATION_TABLE).get("live_migration_flag")).toBe(
      MITAKA_LIVE_MIGRATION_FLAG_DEFAULT,
    );
    expect(tableDefaults(MITAKA_LIBVIRT_TABLE).get("block_migration_flag")).toBe(
      MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT,
    );
    expect(tableDefaults(MITAKA_LIVE_MIGRATION_TABLE).get("live_migration_tunnelled")).toBe("None");
    expect(flagOptions("mitaka").tunnelled.default).toBeNull();
  });

  it("become these flags by default: tunnelled, peer to peer", () => {
    expect(migrationFlags("mitaka")).toEqual({
      live: [
        "VIR_MIGRATE_LIVE",
        "VIR_MIGRATE_PEER2PEER",
        "VIR_MIGRATE_TUNNELLED",
        "VIR_MIGRATE_UNDEFINE_SOURCE",
      ],
      block: [
        "VIR_MIGRATE_LIVE",
        "VIR_MIGRATE_PEER2PEER",
        "VIR_MIGRATE_TUNNELLED",
        "VIR_MIGRATE_UNDEFINE_SOURCE",
        "VIR_MIGRATE_NON_SHARED_INC",
      ],
      ignored: [],
    });
  });

  it("are fixed up the way _parse_migration_flags does", () => {
    const flags = migrationFlags("mitaka", {
      liveMigrationFlag:
        "VIR_MIGRATE_LIVE, VIR_MIGRATE_PERSIST_DEST, VIR_MIGRATE_NON_SHARED_INC, VIR_MIGRATE_AUTOCONVERGE",
      blockMigrationFlag: "VIR_MIGRATE_LIVE",
      tunnelled: false,
    });
    expect(flags.live).toEqual(["VIR_MIGRATE_LIVE", "VIR_MIGRATE_PEER2PEER", "VIR_MIGRATE_UNDEFINE_SOURCE"]);
    expect(flags.block).toEqual([
      "VIR_MIGRATE_LIVE",
      "VIR_MIGRATE_PEER2PEER",
      "VIR_MIGRATE_UNDEFINE_SOURCE",
      "VIR_MIGRATE_NON_SHARED_INC",
    ]);
    expect(flags.ignored).toEqual(["VIR_MIGRATE_AUTOCONVERGE"]);
    expect(migrationFlags("mitaka", { virtType: "xen" }).live).not.toContain("VIR_MIGRATE_PEER2PEER");
    expect(
      migrationFlags("mitaka", {
        liveMigrationFlag: `${MITAKA_LIVE_MIGRATION_FLAG_DEFAULT}, VIR_MIGRATE_AUTO_CONVERGE`,
      }).live,
    ).toContain("VIR_MIGRATE_AUTO_CONVERGE");
  });
});

describe("Newton and later", () => {
  it("drop the flag strings for permit options", () => {
    expect(flagOptions("newton")).toMatchObject({
      liveMigrationFlag: null,
      blockMigrationFlag: null,
      tunnelled: { default: false },
      permitAutoConverge: { option: "live_migration_permit_auto_converge", default: false },
      permitPostCopy: { option: "live_migration_permit_post_copy", default: false },
      withNativeTls: null,
    });
    expect(flagOptions("wallaby").tunnelled.deprecated).toBe(true);
  });

  it("build live, peer to peer, undefine source; persist dest from Ocata", () => {
    expect(migrationFlags("newton").live).toEqual([
      "VIR_MIGRATE_LIVE",
      "VIR_MIGRATE_PEER2PEER",
      "VIR_MIGRATE_UNDEFINE_SOURCE",
    ]);
    expect(migrationFlags("ocata").live).toEqual([
      "VIR_MIGRATE_LIVE",
      "VIR_MIGRATE_PEER2PEER",
      "VIR_MIGRATE_PERSIST_DEST",
      "VIR_MIGRATE_UNDEFINE_SOURCE",
    ]);
    expect(migrationFlags("zed").block).toContain("VIR_MIGRATE_NON_SHARED_INC");
    expect(migrationFlags("zed", { tunnelled: true }).live).toContain("VIR_MIGRATE_TUNNELLED");
  });

  it("let post-copy win over auto-converge", () => {
    expect(migrationFlags("zed", { permitAutoConverge: true }).live).toContain("VIR_MIGRATE_AUTO_CONVERGE");
    const both = migrationFlags("zed", { permitAutoConverge: true, permitPostCopy: true }).live;
    expect(both).toContain("VIR_MIGRATE_POSTCOPY");
    expect(both).not.toContain("VIR_MIGRATE_AUTO_CONVERGE");
    // Where the host cannot do post-copy (Newton–Stein), auto-converge is used after all.
    const old = migrationFlags("newton", {
      permitAutoConverge: true,
      permitPostCopy: true,
      postCopyAvailable: false,
    });
    expect(old.live).toContain("VIR_MIGRATE_AUTO_CONVERGE");
    expect(old.live).not.toContain("VIR_MIGRATE_POSTCOPY");
  });

  it("add TLS from Stein and parallel connections from 2026.1", () => {
    expect(migrationFlags("rocky", { withNativeTls: true }).live).not.toContain("VIR_MIGRATE_TLS");
    expect(migrationFlags("stein", { withNativeTls: true }).live).toContain("VIR_MIGRATE_TLS");
    expect(migrationFlags("2026.1", { parallelConnections: 4 }).live).toContain("VIR_MIGRATE_PARALLEL");
    expect(migrationFlags("2025.2", { parallelConnections: 4 }).live).not.toContain("VIR_MIGRATE_PARALLEL");
  });

  it("match the options the Zed sample lists", () => {
    const libvirt = sampleOptions(ZED_SAMPLE).get("libvirt")!;
    const z = flagOptions("zed");
    expect(libvirt.has("live_migration_flag")).toBe(false);
    expect(libvirt.get(z.tunnelled.option)!.value).toBe("false");
    expect(libvirt.get(z.permitAutoConverge!.option)!.value).toBe("false");
    expect(libvirt.get(z.permitPostCopy!.option)!.value).toBe("false");
    expect(libvirt.get(z.withNativeTls!.option)!.value).toBe("false");
  });
});
