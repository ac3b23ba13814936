import { decode } from "ini";
import { describe, expect, it } from "vitest";
import { type FixKind, planNovaConfFix } from "../../src/fixes/nova-conf-plan";
import { normalizeGroup } from "../../src/nova-conf/document";
import { effectiveSettings } from "../../src/nova-conf/effective";
import type { NovaConfError } from "../../src/nova-conf/errors";
import { releaseByName } from "../../src/nova-conf/releases";
import {
  MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT,
  MITAKA_LIVE_MIGRATION_FLAG_DEFAULT,
} from "../../src/nova-facts";
import { readFixture } from "../support/fixtures";
import { allHostConfigs, toCrlf } from "./fixtures";

type Files = { path: string; text: string }[];

/** Every (section, key) whose value ini reads differently in the two texts. */
function iniChangedKeys(before: string, after: string): string[] {
  const flat = (text: string) => {
    const out = new Map<string, string>();
    for (const [section, body] of Object.entries(decode(text))) {
      if (body && typeof body === "object") {
        for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
          out.set(`[${normalizeGroup(section)}] ${k}`, JSON.stringify(v));
        }
      } else out.set(`? ${section}`, JSON.stringify(body));
    }
    return out;
  };
  const b = flat(before);
  const a = flat(after);
  return [...new Set([...b.keys(), ...a.keys()])].filter((k) => b.get(k) !== a.get(k)).sort();
}

function applied(files: Files, plan: ReturnType<typeof planNovaConfFix>): Files {
  return files.map((f) => ({ ...f, text: plan.files.find((p) => p.path === f.path)?.after ?? f.text }));
}

const RELEASES = ["mitaka", "newton", "train", "zed"] as const;
const FIXES: FixKind[] = ["auto-converge", "cpu-model"];

function expectedKeys(fix: FixKind, release: string): string[] {
  if (fix === "auto-converge") {
    // Mitaka: live migrations take live_migration_flag, block migrations block_migration_flag.
    return release === "mitaka"
      ? ["[libvirt] block_migration_flag", "[libvirt] live_migration_flag"]
      : ["[libvirt] live_migration_permit_auto_converge"];
  }
  return [
    "[libvirt] cpu_mode",
    release === "train" || release === "zed" ? "[libvirt] cpu_models" : "[libvirt] cpu_model",
  ];
}

describe("every fixture nova.conf × both fixes × Mitaka/Newton/Train/Zed", () => {
  const cases = allHostConfigs().flatMap((host) =>
    FIXES.flatMap((fix) =>
      RELEASES.flatMap((release) =>
        (["LF", "CRLF"] as const).map((eol) => ({
          name: `${host.name} · ${fix} · ${release} · ${eol}`,
          files: host.files.map((f) => ({ path: f.path, text: eol === "CRLF" ? toCrlf(f.text) : f.text })),
          fix,
          release,
          eol,
        })),
      ),
    ),
  );

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const release = releaseByName(c.release);
    const plan = planNovaConfFix(c.fix, c.files, release);
    expect(plan.files.length).toBeGreaterThan(0);

    // Only the intended keys change, in ini's reading of before and after.
    const changed = plan.files.flatMap((f) => iniChangedKeys(f.before, f.after)).sort();
    expect(changed).toEqual(expectedKeys(c.fix, c.release).sort());
    expect(plan.files.flatMap((f) => f.changedKeys).sort()).toEqual(changed);

    for (const f of plan.files) {
      // Only touched lines: at most one line removed and two added per key.
      const minus = f.diff.split("\n").filter((l) => l.startsWith("-") && !l.startsWith("---"));
      const plus = f.diff.split("\n").filter((l) => l.startsWith("+") && !l.startsWith("+++"));
      expect(minus.length).toBeLessThanOrEqual(2);
      expect(plus.length).toBeLessThanOrEqual(5);
      if (c.eol === "CRLF") expect(f.after.replace(/\r\n/g, "")).not.toMatch(/\n/);
      else expect(f.after).not.toContain("\r");
    }

    // The fix is in effect when nova-compute reads the files back, in order.
    const after = effectiveSettings(applied(c.files, plan), release);
    if (c.fix === "auto-converge") {
      expect(after.autoConverge).toBe(true);
      expect(after.autoConvergeEffective).toBe(true);
      if (c.release === "mitaka") {
        expect(after.flags.live).toContain("VIR_MIGRATE_AUTO_CONVERGE");
        expect(after.flags.block).toContain("VIR_MIGRATE_AUTO_CONVERGE");
      }
    } else {
      expect(after.cpuMode).toBe("custom");
      expect(after.cpuModels).toEqual(["kvm64"]);
    }

    // Applying twice changes nothing.
    expect(planNovaConfFix(c.fix, applied(c.files, plan), release).files).toEqual([]);
  });
});

describe("which file is edited", () => {
  const zed = releaseByName("zed");

  it("edits nova-compute.conf when the effective value lives there (it overrides nova.conf)", () => {
    const files = [
      { path: "/etc/nova/nova.conf", text: "[libvirt]\nlive_migration_permit_auto_converge = true\n" },
      {
        path: "/etc/nova/nova-compute.conf",
        text: "[libvirt]\nvirt_type=kvm\nlive_migration_permit_auto_converge=false\n",
      },
    ];
    const plan = planNovaConfFix("auto-converge", files, zed);
    expect(plan.files.map((f) => f.path)).toEqual(["/etc/nova/nova-compute.conf"]);
    expect(plan.files[0]!.after).toBe("[libvirt]\nvirt_type=kvm\nlive_migration_permit_auto_converge=true\n");
  });

  it("edits nova.conf when no file sets the key, even when it is not first", () => {
    const files = [
      { path: "/etc/nova/nova-compute.conf", text: "[libvirt]\nvirt_type = kvm\n" },
      { path: "/etc/nova/nova.conf", text: "[DEFAULT]\n" },
    ];
    expect(planNovaConfFix("auto-converge", files, zed).files.map((f) => f.path)).toEqual([
      "/etc/nova/nova.conf",
    ]);
  });

  it("Mitaka: appends to each flag list where it is set, keeping the operator's flags", () => {
    const files = [
      { path: "/etc/nova/nova.conf", text: "[libvirt]\nlive_migration_flag = VIR_MIGRATE_LIVE\n" },
      {
        path: "/etc/nova/nova-compute.conf",
        text: "[libvirt]\r\nlive_migration_flag=VIR_MIGRATE_UNDEFINE_SOURCE,VIR_MIGRATE_PEER2PEER,VIR_MIGRATE_LIVE\r\n",
      },
    ];
    const plan = planNovaConfFix("auto-converge", files, releaseByName("mitaka"));
    // live_migration_flag where its effective value lives; block_migration_flag (set nowhere) in
    // nova.conf, written out from Mitaka's default with the flag added.
    expect(plan.files.map((f) => [f.path, f.changedKeys])).toEqual([
      ["/etc/nova/nova.conf", ["[libvirt] block_migration_flag"]],
      ["/etc/nova/nova-compute.conf", ["[libvirt] live_migration_flag"]],
    ]);
    expect(plan.files[1]!.after).toBe(
      "[libvirt]\r\nlive_migration_flag=VIR_MIGRATE_UNDEFINE_SOURCE,VIR_MIGRATE_PEER2PEER,VIR_MIGRATE_LIVE,VIR_MIGRATE_AUTO_CONVERGE\r\n",
    );
    expect(plan.files[0]!.after).toBe(
      `[libvirt]\nlive_migration_flag = VIR_MIGRATE_LIVE\nblock_migration_flag = ${MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT}, VIR_MIGRATE_AUTO_CONVERGE\n`,
    );
  });

  it("Mitaka: a live_migration_flag that already has it only gets block_migration_flag added", () => {
    const text =
      "[libvirt]\nlive_migration_flag = VIR_MIGRATE_PEER2PEER,VIR_MIGRATE_LIVE,VIR_MIGRATE_AUTO_CONVERGE\n";
    const mitaka = releaseByName("mitaka");
    const before = effectiveSettings([{ path: "n", text }], mitaka);
    expect(before.autoConvergeFor).toEqual({ live: true, block: false });
    const plan = planNovaConfFix("auto-converge", [{ path: "n", text }], mitaka);
    expect(plan.files.map((f) => f.changedKeys)).toEqual([["[libvirt] block_migration_flag"]]);
    const after = effectiveSettings([{ path: "n", text: plan.files[0]!.after }], mitaka);
    expect(after.autoConvergeFor).toEqual({ live: true, block: true });
    expect(after.flags.block).toContain("VIR_MIGRATE_NON_SHARED_INC");
  });

  it("cpu_mode and cpu_models may be edited in different files", () => {
    const files = [
      { path: "/etc/nova/nova.conf", text: "[libvirt]\ncpu_models = Haswell\ncpu_mode = host-model\n" },
      { path: "/etc/nova/nova-compute.conf", text: "[libvirt]\ncpu_mode = host-passthrough\n" },
    ];
    // Haswell with host-model would stop Zed's nova-compute; planning still works and repairs it.
    const plan = planNovaConfFix("cpu-model", files, zed);
    expect(plan.files.map((f) => [f.path, f.changedKeys])).toEqual([
      ["/etc/nova/nova.conf", ["[libvirt] cpu_models"]],
      ["/etc/nova/nova-compute.conf", ["[libvirt] cpu_mode"]],
    ]);
  });
});

describe("fix details", () => {
  it("warns that post-copy wins over auto-converge", () => {
    const files = [
      { path: "/etc/nova/nova.conf", text: "[libvirt]\nlive_migration_permit_post_copy = true\n" },
    ];
    const plan = planNovaConfFix("auto-converge", files, releaseByName("train"));
    expect(plan.warnings.join("\n")).toMatch(/Post-copy is also permitted \(\/etc\/nova\/nova\.conf:2\)/);
    expect(plan.files).toHaveLength(1);
  });

  it("does nothing when the fix is already in effect, however it is spelled", () => {
    const zed = releaseByName("zed");
    expect(
      planNovaConfFix(
        "auto-converge",
        [{ path: "n", text: "[LIBVIRT]\nlive_migration_permit_auto_converge=Yes\n" }],
        zed,
      ).files,
    ).toEqual([]);
    const mitaka =
      "[libvirt]\nlive_migration_flag = VIR_MIGRATE_PEER2PEER,VIR_MIGRATE_LIVE,VIR_MIGRATE_AUTO_CONVERGE\nblock_migration_flag=VIR_MIGRATE_LIVE, VIR_MIGRATE_NON_SHARED_INC, VIR_MIGRATE_AUTO_CONVERGE\n";
    expect(
      planNovaConfFix("auto-converge", [{ path: "n", text: mitaka }], releaseByName("mitaka")).files,
    ).toEqual([]);
  });

  it("fixes the seed guide's `live_migration_flag +=` properly and says why the old line did nothing", () => {
    const text = "[libvirt]\nlive_migration_flag += VIR_MIGRATE_AUTO_CONVERGE\n";
    const plan = planNovaConfFix(
      "auto-converge",
      [{ path: "/etc/nova/nova.conf", text }],
      releaseByName("mitaka"),
    );
    expect(plan.warnings.join("\n")).toMatch(/not oslo\.config syntax/);
    expect(plan.files[0]!.after).toBe(
      `${text}live_migration_flag = ${MITAKA_LIVE_MIGRATION_FLAG_DEFAULT}, VIR_MIGRATE_AUTO_CONVERGE\nblock_migration_flag = ${MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT}, VIR_MIGRATE_AUTO_CONVERGE\n`,
    );
  });

  it("Train+: renames a lone cpu_model line to cpu_models in place", () => {
    const text = "[libvirt]\ncpu_mode = custom\ncpu_model = Haswell\nvirt_type = kvm\n";
    const plan = planNovaConfFix("cpu-model", [{ path: "n", text }], releaseByName("zed"));
    expect(plan.files[0]!.after).toBe("[libvirt]\ncpu_mode = custom\ncpu_models = kvm64\nvirt_type = kvm\n");
    expect(plan.files[0]!.changedKeys.sort()).toEqual(["[libvirt] cpu_model", "[libvirt] cpu_models"]);
  });

  it("Train+: drops a leftover cpu_model next to cpu_models", () => {
    const text = "[libvirt]\ncpu_mode = custom\ncpu_models = Haswell\ncpu_model = Broadwell\n";
    const plan = planNovaConfFix("cpu-model", [{ path: "n", text }], releaseByName("train"));
    expect(plan.files[0]!.after).toBe("[libvirt]\ncpu_mode = custom\ncpu_models = kvm64\n");
  });

  it("Train+: leaves a working deprecated cpu_model = kvm64 alone, with a note", () => {
    const text = "[libvirt]\ncpu_mode = custom\ncpu_model = kvm64\n";
    const plan = planNovaConfFix("cpu-model", [{ path: "n", text }], releaseByName("zed"));
    expect(plan.files).toEqual([]);
    expect(plan.warnings.join("\n")).toMatch(/deprecated name of cpu_models/);
  });

  it("uses the requested model and refuses a name that is not a CPU model", () => {
    const plan = planNovaConfFix("cpu-model", [{ path: "n", text: "[libvirt]\n" }], releaseByName("stein"), {
      model: "Haswell-noTSX",
    });
    expect(plan.files[0]!.after).toBe("[libvirt]\ncpu_mode = custom\ncpu_model = Haswell-noTSX\n");
    expect(() =>
      planNovaConfFix("cpu-model", [{ path: "n", text: "[libvirt]\n" }], releaseByName("zed"), {
        model: "kvm64\nx=1",
      }),
    ).toThrow(/not a libvirt CPU model name/);
  });

  it("refuses the CPU fix where nova cannot pick a CPU model (virt_type lxc)", () => {
    try {
      planNovaConfFix(
        "cpu-model",
        [{ path: "n", text: "[libvirt]\nvirt_type = lxc\n" }],
        releaseByName("zed"),
      );
      throw new Error("no error");
    } catch (e) {
      expect((e as NovaConfError).code).toBe("NOVA_CONF_UNSUPPORTED");
    }
  });

  it("does not plan on a file that does not parse, naming it", () => {
    const files = [
      { path: "/etc/nova/nova.conf", text: "[libvirt]\n" },
      { path: "/etc/nova/nova-compute.conf", text: "[libvirt]\nvirt_type kvm\n" },
    ];
    expect(() => planNovaConfFix("auto-converge", files, releaseByName("zed"))).toThrow(
      /nova-compute\.conf:2: No ':' or '=' found/,
    );
  });
});

describe("Mitaka block migrations, on the real Mitaka-era example nova.conf", () => {
  const mitaka = releaseByName("13.1.4");
  const files = [
    {
      path: "/etc/nova/nova.conf",
      text: readFixture("nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf"),
    },
  ];

  it("auto-converge goes into both lists, each written from Mitaka's default, and is then on for both types", () => {
    expect(effectiveSettings(files, mitaka).autoConvergeFor).toEqual({ live: false, block: false });
    const plan = planNovaConfFix("auto-converge", files, mitaka);
    expect(plan.files).toHaveLength(1);
    const added = plan.files[0]!.diff.split("\n").filter((l) => /^\+[a-z]/.test(l));
    expect(added).toEqual([
      // The file writes key=value without spaces; the new lines follow it.
      `+live_migration_flag=${MITAKA_LIVE_MIGRATION_FLAG_DEFAULT}, VIR_MIGRATE_AUTO_CONVERGE`,
      `+block_migration_flag=${MITAKA_BLOCK_MIGRATION_FLAG_DEFAULT}, VIR_MIGRATE_AUTO_CONVERGE`,
    ]);
    const after = effectiveSettings([{ ...files[0]!, text: plan.files[0]!.after }], mitaka);
    expect(after.autoConvergeFor).toEqual({ live: true, block: true });
    // A block migration copies the disks incrementally; a live one never does.
    expect(after.flags.block).toContain("VIR_MIGRATE_NON_SHARED_INC");
    expect(after.flags.live).not.toContain("VIR_MIGRATE_NON_SHARED_INC");
  });

  it("the plan replays to the same bytes (what an approved proposal re-checks at apply time)", () => {
    const first = planNovaConfFix("auto-converge", files, mitaka);
    const again = planNovaConfFix("auto-converge", files, releaseByName("mitaka"));
    expect(again.files.map((f) => f.after)).toEqual(first.files.map((f) => f.after));
  });
});

describe("cpu_model_extra_flags", () => {
  it("is read, kept as it is by the cpu-model fix, and handed on with the plan", () => {
    const text = "[libvirt]\nvirt_type = kvm\ncpu_model_extra_flags = PCID, -hle\n";
    const zed = releaseByName("26.2.2");
    expect(effectiveSettings([{ path: "n", text }], zed).cpuModelExtraFlags).toEqual(["PCID", "-hle"]);
    const plan = planNovaConfFix("cpu-model", [{ path: "n", text }], zed, { model: "Haswell-noTSX" });
    expect(plan.extraFlags).toEqual(["PCID", "-hle"]);
    expect(plan.files[0]!.after).toContain("cpu_model_extra_flags = PCID, -hle\n");
    expect(plan.warnings.join("\n")).toMatch(/cpu_model_extra_flags = PCID, -hle stays/);
  });

  it("accepts only pcid where the option was first backported (15.1.1), and is ignored before it exists", () => {
    const text = "[libvirt]\ncpu_model_extra_flags = ssbd\n";
    expect(() => effectiveSettings([{ path: "n", text }], releaseByName("15.1.1"))).toThrow(
      /accepts only pcid/,
    );
    expect(
      effectiveSettings(
        [{ path: "n", text: "[libvirt]\ncpu_model_extra_flags = pcid\n" }],
        releaseByName("15.1.1"),
      ).cpuModelExtraFlags,
    ).toEqual(["pcid"]);
    const old = effectiveSettings([{ path: "n", text }], releaseByName("15.1.0"));
    expect(old.cpuModelExtraFlags).toEqual([]);
    expect(old.warnings.join("\n")).toMatch(/cpu_model_extra_flags is not an option of nova 15\.1\.0/);
  });
});
