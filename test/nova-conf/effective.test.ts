import { describe, expect, it } from "vitest";
import { allocationRatioOf, effectiveSettings } from "../../src/nova-conf/effective";
import { NovaConfError } from "../../src/nova-conf/errors";
import { releaseByName } from "../../src/nova-conf/releases";
import {
  MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT,
  MITAKA_LIVE_MIGRATION_FLAG_DEFAULT,
} from "../../src/nova-facts";
import { readFixture } from "../support/fixtures";

const ZED_NOVA = {
  path: "/etc/nova/nova.conf",
  text: readFixture("nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf"),
};
const ZED_COMPUTE = {
  path: "/etc/nova/nova-compute.conf",
  text: readFixture("nova-conf/nova-compute.conf-zed-26.2.2-debian-kvm.conf"),
};
const MITAKA_EXAMPLE = {
  path: "/etc/nova/nova.conf",
  text: readFixture("nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf"),
};

/** The `option = default` pairs of an openstack-manuals config-reference table (.rst list-table). */
function rstDefaults(relative: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of readFixture(relative).matchAll(/^\s*\* - ``([a-z0-9_]+)`` = (?:``(.*)``)?\s*$/gm)) {
    out.set(m[1]!, m[2] ?? "");
  }
  return out;
}

function thrown(fn: () => unknown): NovaConfError {
  try {
    fn();
  } catch (e) {
    if (e instanceof NovaConfError) return e;
    throw e;
  }
  throw new Error("expected a NovaConfError");
}

describe("effectiveSettings on the real Debian Zed files", () => {
  it("reads the packaged defaults, with virt_type from nova-compute.conf", () => {
    const s = effectiveSettings([ZED_NOVA, ZED_COMPUTE], releaseByName("zed"));
    expect(s).toMatchObject({
      autoConverge: false,
      postCopy: false,
      autoConvergeEffective: false,
      autoConvergeFor: { live: false, block: false },
      flags: {
        live: [
          "VIR_MIGRATE_LIVE",
          "VIR_MIGRATE_PEER2PEER",
          "VIR_MIGRATE_PERSIST_DEST",
          "VIR_MIGRATE_UNDEFINE_SOURCE",
        ],
        block: [
          "VIR_MIGRATE_LIVE",
          "VIR_MIGRATE_PEER2PEER",
          "VIR_MIGRATE_PERSIST_DEST",
          "VIR_MIGRATE_UNDEFINE_SOURCE",
          "VIR_MIGRATE_NON_SHARED_INC",
        ],
      },
      capacity: { reservedHostMemoryMb: 512, cpuAllocationRatio: null, ramAllocationRatio: null },
      comparesCpuAsDestination: true,
      cpuModelExtraFlags: [],
      downtimeMs: 500,
      downtimeSteps: 10,
      downtimeDelayS: 75,
      completionTimeoutS: 800,
      progressTimeoutS: 0,
      timeoutAction: "abort",
      maxConcurrent: 1,
      bandwidthMiBps: 0,
      cpuMode: "host-model",
      cpuModels: [],
      virtType: "kvm",
    });
    expect(s.sources.virtType).toEqual({
      path: "/etc/nova/nova-compute.conf",
      line: 5,
      option: "[libvirt] virt_type",
    });
    expect(s.sources.cpuMode).toBe("default");
    expect(s.warnings).toEqual([]);
  });

  it("lets nova-compute.conf override nova.conf, as the later --config-file", () => {
    const nova = {
      ...ZED_NOVA,
      text: ZED_NOVA.text.replace(
        "#live_migration_permit_auto_converge = false",
        "live_migration_permit_auto_converge = true",
      ),
    };
    const compute = {
      ...ZED_COMPUTE,
      text: `${ZED_COMPUTE.text}live_migration_permit_auto_converge=false\n`,
    };
    expect(effectiveSettings([nova], releaseByName("zed")).autoConverge).toBe(true);
    const both = effectiveSettings([nova, compute], releaseByName("zed"));
    expect(both.autoConverge).toBe(false);
    expect(both.sources.autoConverge).toMatchObject({ path: "/etc/nova/nova-compute.conf", line: 10 });
  });
});

describe("Mitaka defaults agree with the Mitaka config-reference tables", () => {
  const live = rstDefaults("nova-conf/config-reference-table-nova-livemigration-mitaka.rst");
  const libvirt = rstDefaults("nova-conf/config-reference-table-nova-libvirt-liberty-mitaka-era.rst");
  const s = effectiveSettings(
    [{ path: "/etc/nova/nova.conf", text: "[DEFAULT]\n" }],
    releaseByName("mitaka"),
  );

  it("matches every live-migration default in the table", () => {
    expect(live.get("live_migration_flag")).toBe(MITAKA_LIVE_MIGRATION_FLAG_DEFAULT);
    // Nova ORs the flags together; libvirt's bit order is how migbot lists them.
    expect([...s.flags.live].sort()).toEqual(live.get("live_migration_flag")!.split(", ").sort());
    expect(String(s.downtimeMs)).toBe(live.get("live_migration_downtime"));
    expect(String(s.downtimeSteps)).toBe(live.get("live_migration_downtime_steps"));
    expect(String(s.downtimeDelayS)).toBe(live.get("live_migration_downtime_delay"));
    expect(String(s.completionTimeoutS)).toBe(live.get("live_migration_completion_timeout"));
    expect(String(s.progressTimeoutS)).toBe(live.get("live_migration_progress_timeout"));
    expect(String(s.bandwidthMiBps)).toBe(live.get("live_migration_bandwidth"));
    expect(String(s.maxConcurrent)).toBe(live.get("max_concurrent_live_migrations"));
  });

  it("matches the libvirt table: virt_type kvm, cpu_mode None resolving to host-model", () => {
    expect(libvirt.get("virt_type")).toBe("kvm");
    expect(libvirt.get("cpu_mode")).toBe("None");
    expect(s.virtType).toBe("kvm");
    expect(s.cpuMode).toBe("host-model");
    expect(s.autoConverge).toBe(false);
  });

  it("reads the Liberty/Mitaka example nova.conf (virt_type=qemu, key=value without spaces)", () => {
    const m = effectiveSettings([MITAKA_EXAMPLE], releaseByName("mitaka"));
    expect(m.virtType).toBe("qemu");
    expect(m.cpuMode).toBe("host-model");
    expect(m.sources.virtType).toMatchObject({ line: 74 });
  });
});

describe("release-aware names and defaults", () => {
  const conf = (body: string) => [{ path: "/etc/nova/nova.conf", text: body }];

  it("Mitaka: auto-converge comes from live_migration_flag; the Newton option is ignored with a warning", () => {
    const s = effectiveSettings(
      conf(
        "[libvirt]\nlive_migration_flag = VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_AUTO_CONVERGE\nlive_migration_permit_post_copy = true\n",
      ),
      releaseByName("mitaka"),
    );
    // Only live migrations get it: block migrations take block_migration_flag, still the default.
    expect(s.autoConvergeFor).toEqual({ live: true, block: false });
    expect(s.autoConverge).toBe(false);
    expect(s.autoConvergeEffective).toBe(false);
    expect(s.postCopy).toBe(false);
    expect(s.flags.live).toContain("VIR_MIGRATE_AUTO_CONVERGE");
    expect(s.flags.block).not.toContain("VIR_MIGRATE_AUTO_CONVERGE");
    expect(s.warnings.join("\n")).toMatch(/live_migration_permit_post_copy only exists from nova 14/);
  });

  it("flags the seed guide's `live_migration_flag += …` as not oslo syntax (it changes nothing)", () => {
    const s = effectiveSettings(
      conf("[libvirt]\nlive_migration_flag += VIR_MIGRATE_AUTO_CONVERGE\n"),
      releaseByName("mitaka"),
    );
    expect(s.autoConverge).toBe(false);
    expect(s.warnings[0]).toMatch(/nova\.conf:2: .*not oslo\.config syntax/);
  });

  it("Newton+: post-copy wins over auto-converge", () => {
    const s = effectiveSettings(
      conf("[libvirt]\nlive_migration_permit_auto_converge = True\nlive_migration_permit_post_copy = yes\n"),
      releaseByName("newton"),
    );
    expect(s).toMatchObject({ autoConverge: true, postCopy: true, autoConvergeEffective: false });
    expect(s.progressTimeoutS).toBe(150);
  });

  it("progress timeout: 150 on Newton, 0 from Ocata, gone from Stein; timeout action from Stein", () => {
    expect(effectiveSettings(conf("[libvirt]\n"), releaseByName("ocata")).progressTimeoutS).toBe(0);
    const stein = effectiveSettings(
      conf(
        "[libvirt]\nlive_migration_progress_timeout = 150\nlive_migration_timeout_action = force_complete\n",
      ),
      releaseByName("stein"),
    );
    expect(stein.progressTimeoutS).toBe(0);
    expect(stein.timeoutAction).toBe("force_complete");
    expect(stein.warnings.join("\n")).toMatch(/live_migration_progress_timeout was removed after nova 18/);
    const rocky = effectiveSettings(
      conf("[libvirt]\nlive_migration_timeout_action = force_complete\n"),
      releaseByName("rocky"),
    );
    expect(rocky.timeoutAction).toBe("abort");
  });

  it("cpu_model before Train, cpu_models (with cpu_model as deprecated alias) from Train", () => {
    const old = effectiveSettings(
      conf("[libvirt]\ncpu_mode = custom\ncpu_model = kvm64\n"),
      releaseByName("stein"),
    );
    expect(old).toMatchObject({ cpuMode: "custom", cpuModels: ["kvm64"] });
    const alias = effectiveSettings(
      conf("[libvirt]\ncpu_mode = custom\ncpu_model = kvm64\n"),
      releaseByName("train"),
    );
    expect(alias.cpuModels).toEqual(["kvm64"]);
    expect(alias.sources.cpuModels).toMatchObject({ option: "[libvirt] cpu_model", line: 3 });
    expect(alias.warnings.join("\n")).toMatch(/deprecated name of cpu_models/);
    const both = effectiveSettings(
      conf("[libvirt]\ncpu_mode = custom\ncpu_models = Haswell, kvm64\ncpu_model = qemu64\n"),
      releaseByName("zed"),
    );
    // Within one file oslo tries the current name before the deprecated one.
    expect(both.cpuModels).toEqual(["Haswell", "kvm64"]);
  });

  it("a deprecated cpu_model in a later file beats cpu_models in an earlier one (oslo looks file by file)", () => {
    const s = effectiveSettings(
      [
        { path: "/etc/nova/nova.conf", text: "[libvirt]\ncpu_mode = custom\ncpu_models = Haswell\n" },
        { path: "/etc/nova/nova-compute.conf", text: "[libvirt]\ncpu_model = kvm64\n" },
      ],
      releaseByName("zed"),
    );
    expect(s.cpuModels).toEqual(["kvm64"]);
  });

  it("cpu_mode defaults to none for other virt types; section names are case-insensitive except DEFAULT", () => {
    expect(effectiveSettings(conf("[LIBVIRT]\nvirt_type = lxc\n"), releaseByName("zed")).cpuMode).toBe(
      "none",
    );
    const s = effectiveSettings(
      conf("[default]\nmax_concurrent_live_migrations = 4\n"),
      releaseByName("zed"),
    );
    expect(s.maxConcurrent).toBe(1);
    expect(s.warnings[0]).toMatch(/\[default\] is not \[DEFAULT\]/);
    expect(
      effectiveSettings(conf("[DEFAULT]\nmax_concurrent_live_migrations = 4\n"), releaseByName("zed"))
        .maxConcurrent,
    ).toBe(4);
  });

  it("the last of duplicate keys wins, across repeated sections too", () => {
    const s = effectiveSettings(
      conf("[libvirt]\nlive_migration_downtime = 300\n[DEFAULT]\n[libvirt]\nlive_migration_downtime=700\n"),
      releaseByName("zed"),
    );
    expect(s.downtimeMs).toBe(700);
    expect(s.sources.downtimeMs).toMatchObject({ line: 5 });
  });

  it("rounds small downtime values up before Pike, rejects them from Pike (oslo min=)", () => {
    const text = "[libvirt]\nlive_migration_downtime = 50\nlive_migration_downtime_steps = 1\n";
    expect(effectiveSettings(conf(text), releaseByName("mitaka"))).toMatchObject({
      downtimeMs: 100,
      downtimeSteps: 3,
    });
    const err = thrown(() => effectiveSettings(conf(text), releaseByName("pike")));
    expect(err.code).toBe("NOVA_CONF_INVALID_VALUE");
    expect(err.message).toMatch(
      /nova\.conf:2: \[libvirt\] live_migration_downtime = "50" is below the minimum 100/,
    );
  });
});

describe("invalid values are coded errors naming file, line and key", () => {
  it.each([
    ["[libvirt]\nlive_migration_downtime = abc\n", "zed", 2, "live_migration_downtime", /is not an integer/],
    [
      "[libvirt]\n\nlive_migration_permit_auto_converge = maybe\n",
      "zed",
      3,
      "live_migration_permit_auto_converge",
      /is not a boolean/,
    ],
    ["[libvirt]\nvirt_type = xen\n", "zed", 2, "virt_type", /is not one of kvm, lxc, qemu, parallels/],
    [
      "[libvirt]\nlive_migration_flag = VIR_MIGRATE_LIVE, VIR_MIGRATE_AUTOCONVERGE\n",
      "mitaka",
      2,
      "live_migration_flag",
      /VIR_MIGRATE_AUTOCONVERGE/,
    ],
    ["[libvirt]\ncpu_mode = custom\n", "train", 2, "cpu_mode", /needs cpu_models/],
    [
      "[libvirt]\ncpu_mode = host-model\ncpu_models = kvm64\n",
      "zed",
      3,
      "cpu_models",
      /is set while cpu_mode is host-model/,
    ],
  ])("%j on %s", (text, release, line, key, message) => {
    const err = thrown(() =>
      effectiveSettings([{ path: "/etc/nova/nova.conf", text }], releaseByName(release)),
    );
    expect(err.code).toBe("NOVA_CONF_INVALID_VALUE");
    expect(err.location).toEqual({ path: "/etc/nova/nova.conf", line, key });
    expect(err.message).toMatch(message);
  });

  it("an unknown Mitaka flag can be ignored the way nova itself does", () => {
    const s = effectiveSettings(
      [
        {
          path: "n.conf",
          text: "[libvirt]\nlive_migration_flag = VIR_MIGRATE_LIVE, VIR_MIGRATE_AUTOCONVERGE\n",
        },
      ],
      releaseByName("mitaka"),
      { unknownFlags: "ignore" },
    );
    expect(s.autoConverge).toBe(false);
    // nova adds the flags it cannot do without.
    expect(s.flags.live).toEqual([
      "VIR_MIGRATE_LIVE",
      "VIR_MIGRATE_PEER2PEER",
      "VIR_MIGRATE_UNDEFINE_SOURCE",
    ]);
    expect(s.warnings.join("\n")).toMatch(/ignores the unknown libvirt flag 'VIR_MIGRATE_AUTOCONVERGE'/);
  });

  it("a file oslo cannot parse is a parse error naming its line", () => {
    const err = thrown(() =>
      effectiveSettings(
        [ZED_COMPUTE, { path: "/etc/nova/broken.conf", text: "[libvirt\nx=1\n" }],
        releaseByName("zed"),
      ),
    );
    expect(err.code).toBe("NOVA_CONF_PARSE");
    expect(err.location).toEqual({ path: "/etc/nova/broken.conf", line: 1 });
  });
});

describe("Mitaka's two flag lists, live and block", () => {
  const libvirt = rstDefaults("nova-conf/config-reference-table-nova-libvirt-liberty-mitaka-era.rst");
  const mitaka = releaseByName("13.1.4");

  it("block_migration_flag's default is the one in Mitaka's config reference, and adds NON_SHARED_INC", () => {
    expect(libvirt.get("block_migration_flag")).toBe(MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT);
    const s = effectiveSettings([MITAKA_EXAMPLE], mitaka);
    expect([...s.flags.block].sort()).toEqual(MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT.split(", ").sort());
    expect(s.flags.block.filter((f) => !s.flags.live.includes(f))).toEqual(["VIR_MIGRATE_NON_SHARED_INC"]);
    expect(s.sources.blockMigrationFlags).toBe("default");
  });

  it("reports auto-converge per migration type, each from its own list and line", () => {
    const text = `${MITAKA_EXAMPLE.text}block_migration_flag=VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_NON_SHARED_INC, VIR_MIGRATE_AUTO_CONVERGE\n`;
    const s = effectiveSettings([{ ...MITAKA_EXAMPLE, text }], mitaka);
    expect(s.autoConvergeFor).toEqual({ live: false, block: true });
    expect(s.autoConverge).toBe(false);
    expect(s.sources.blockMigrationFlags).toMatchObject({ option: "[libvirt] block_migration_flag" });
    // The list that lacks it is the one to look at.
    expect(s.sources.autoConverge).toBe("default");
  });

  it("a typo in block_migration_flag is caught like one in live_migration_flag", () => {
    const err = thrown(() =>
      effectiveSettings(
        [
          {
            path: "/etc/nova/nova.conf",
            text: "[libvirt]\nblock_migration_flag = VIR_MIGRATE_AUTOCONVERGE\n",
          },
        ],
        mitaka,
      ),
    );
    expect(err.location).toEqual({ path: "/etc/nova/nova.conf", line: 2, key: "block_migration_flag" });
  });

  it("Newton+ builds both lists from the permit options (block adds NON_SHARED_INC)", () => {
    const s = effectiveSettings(
      [{ path: "n", text: "[libvirt]\nlive_migration_permit_auto_converge = true\n" }],
      releaseByName("newton"),
    );
    expect(s.autoConvergeFor).toEqual({ live: true, block: true });
    // Newton has no PERSIST_DEST (from 15.0.0).
    expect(s.flags.live).not.toContain("VIR_MIGRATE_PERSIST_DEST");
    expect(s.flags.block).toContain("VIR_MIGRATE_NON_SHARED_INC");
  });
});

describe("CPU comparison and capacity options", () => {
  it("a destination compares CPUs only for virt_type kvm from 13.1.0 (13.0.0 also for qemu)", () => {
    expect(effectiveSettings([MITAKA_EXAMPLE], releaseByName("13.1.4")).comparesCpuAsDestination).toBe(false);
    expect(effectiveSettings([MITAKA_EXAMPLE], releaseByName("13.0.0")).comparesCpuAsDestination).toBe(true);
    expect(effectiveSettings([ZED_NOVA, ZED_COMPUTE], releaseByName("26.2.2")).comparesCpuAsDestination).toBe(
      true,
    );
    const skip = {
      path: "/etc/nova/nova-compute.conf",
      text: `${ZED_COMPUTE.text}[workarounds]\nskip_cpu_compare_on_dest = true\n`,
    };
    const s = effectiveSettings([ZED_NOVA, skip], releaseByName("26.2.2"));
    expect(s.comparesCpuAsDestination).toBe(false);
    expect(s.warnings.join("\n")).toMatch(/skip_cpu_compare_on_dest = true/);
  });

  it("reads reserved_host_memory_mb and the allocation ratios; unset ratios fall back per release", () => {
    const text = "[DEFAULT]\nreserved_host_memory_mb = 2048\nram_allocation_ratio = 1.0\n";
    const zed = effectiveSettings([{ path: "n", text }], releaseByName("zed"));
    expect(zed.capacity).toEqual({
      reservedHostMemoryMb: 2048,
      cpuAllocationRatio: null,
      ramAllocationRatio: 1,
    });
    expect(allocationRatioOf(zed, "ram")).toBe(1);
    expect(allocationRatioOf(zed, "cpu")).toBe(16);
    const antelope = effectiveSettings([{ path: "n", text: "[DEFAULT]\n" }], releaseByName("2023.1"));
    expect(allocationRatioOf(antelope, "cpu")).toBe(4);
    expect(allocationRatioOf(antelope, "ram")).toBe(1);
    const mitaka = effectiveSettings([MITAKA_EXAMPLE], releaseByName("mitaka"));
    expect(mitaka.capacity.reservedHostMemoryMb).toBe(512);
    expect(allocationRatioOf(mitaka, "ram")).toBe(1.5);
    expect(() =>
      effectiveSettings(
        [{ path: "n", text: "[DEFAULT]\nram_allocation_ratio = lots\n" }],
        releaseByName("zed"),
      ),
    ).toThrow(/ram_allocation_ratio = "lots" is not a number/);
  });
});
