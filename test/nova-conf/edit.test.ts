import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode } from "ini";
import { afterAll, describe, expect, it } from "vitest";
import { parseNovaConf, serializeNovaConf } from "../../src/nova-conf/document";
import {
  appendToListOption,
  proveOnlyKeysChanged,
  removeOption,
  renameOption,
  setOption,
  unifiedDiff,
} from "../../src/nova-conf/edit";
import { NovaConfError } from "../../src/nova-conf/errors";
import { readFixture } from "../support/fixtures";
import { requireProgram } from "../support/programs";

const set = (text: string, section: string, key: string, value: string) =>
  serializeNovaConf(setOption(parseNovaConf(text, "/etc/nova/nova.conf"), section, key, value));

describe("setOption: only the touched line changes", () => {
  it("rewrites an existing value in place, keeping `key=value` without spaces", () => {
    expect(
      set("[libvirt]\nvirt_type=kvm\ncpu_mode=host-model\n# tail\n", "libvirt", "cpu_mode", "custom"),
    ).toBe("[libvirt]\nvirt_type=kvm\ncpu_mode=custom\n# tail\n");
  });

  it("keeps CRLF on every line, including the new ones", () => {
    const before = "[DEFAULT]\r\ndebug = true\r\n\r\n[libvirt]\r\nvirt_type = kvm\r\n";
    const after = set(before, "libvirt", "cpu_mode", "custom");
    expect(after).toBe(
      "[DEFAULT]\r\ndebug = true\r\n\r\n[libvirt]\r\nvirt_type = kvm\r\ncpu_mode = custom\r\n",
    );
    expect(set(before, "vnc", "enabled", "true")).toBe(`${before}\r\n[vnc]\r\nenabled = true\r\n`);
  });

  it("keeps a missing final newline missing", () => {
    expect(set("[libvirt]\nvirt_type = kvm", "libvirt", "cpu_mode", "custom")).toBe(
      "[libvirt]\nvirt_type = kvm\ncpu_mode = custom",
    );
    expect(set("[DEFAULT]\ndebug = true", "libvirt", "cpu_mode", "custom")).toBe(
      "[DEFAULT]\ndebug = true\n\n[libvirt]\ncpu_mode = custom",
    );
    expect(set("[libvirt]\ncpu_mode = host-model", "libvirt", "cpu_mode", "custom")).toBe(
      "[libvirt]\ncpu_mode = custom",
    );
  });

  it("uncomments a commented default right where it is documented", () => {
    const before = "[libvirt]\n#\n# CPU mode.\n#cpu_mode = <None>\n\n#cpu_models =\n\n[vnc]\n";
    const after = set(set(before, "libvirt", "cpu_mode", "custom"), "libvirt", "cpu_models", "kvm64");
    expect(after).toBe("[libvirt]\n#\n# CPU mode.\ncpu_mode = custom\n\ncpu_models = kvm64\n\n[vnc]\n");
    // Debian's nova-compute.conf writes its commented default without spaces.
    expect(set("[libvirt]\n#cpu_mode=host-passthrough\n", "libvirt", "cpu_mode", "custom")).toBe(
      "[libvirt]\ncpu_mode=custom\n",
    );
  });

  it("does not take a commented default from another section", () => {
    expect(
      set("[vnc]\n#cpu_mode = <None>\n[libvirt]\nvirt_type = kvm\n", "libvirt", "cpu_mode", "custom"),
    ).toBe("[vnc]\n#cpu_mode = <None>\n[libvirt]\nvirt_type = kvm\ncpu_mode = custom\n");
  });

  it("creates a missing section at the end with one blank line before it", () => {
    expect(set("[DEFAULT]\ndebug = true\n", "libvirt", "cpu_mode", "custom")).toBe(
      "[DEFAULT]\ndebug = true\n\n[libvirt]\ncpu_mode = custom\n",
    );
    expect(set("[DEFAULT]\ndebug = true\n\n", "libvirt", "cpu_mode", "custom")).toBe(
      "[DEFAULT]\ndebug = true\n\n[libvirt]\ncpu_mode = custom\n",
    );
    expect(set("", "libvirt", "cpu_mode", "custom")).toBe("[libvirt]\ncpu_mode = custom\n");
  });

  it("inserts after the section's last line, before the blank lines that end it", () => {
    expect(
      set("[libvirt]\nvirt_type = kvm\n\n\n[vnc]\nenabled = true\n", "libvirt", "cpu_mode", "custom"),
    ).toBe("[libvirt]\nvirt_type = kvm\ncpu_mode = custom\n\n\n[vnc]\nenabled = true\n");
  });

  it("edits the LAST of duplicate keys and sections (the one oslo uses), whatever the section's case", () => {
    const before =
      "[libvirt]\ncpu_mode = none\n[DEFAULT]\n[LIBVIRT]\ncpu_mode = host-model\ncpu_mode = none\n";
    expect(set(before, "libvirt", "cpu_mode", "custom")).toBe(
      "[libvirt]\ncpu_mode = none\n[DEFAULT]\n[LIBVIRT]\ncpu_mode = host-model\ncpu_mode = custom\n",
    );
  });

  it("replaces a value holding '#' or ';' whole (oslo has no inline comments) and keeps quotes", () => {
    expect(set("[libvirt]\ncpu_mode = host-model # old\n", "libvirt", "cpu_mode", "custom")).toBe(
      "[libvirt]\ncpu_mode = custom\n",
    );
    expect(set("[libvirt]\ncpu_model = 'Haswell'\n", "libvirt", "cpu_model", "kvm64")).toBe(
      "[libvirt]\ncpu_model = 'kvm64'\n",
    );
    const semi = "[database]\nconnection = mysql://u:p;w@h/nova\n[libvirt]\nvirt_type\t=\tkvm\n";
    expect(set(semi, "libvirt", "virt_type", "qemu")).toBe(
      "[database]\nconnection = mysql://u:p;w@h/nova\n[libvirt]\nvirt_type\t=\tqemu\n",
    );
  });

  it("drops the continuation lines of a multi-line value it replaces", () => {
    expect(set("[libvirt]\ncpu_mode = host-model\n  extra\n[vnc]\n", "libvirt", "cpu_mode", "custom")).toBe(
      "[libvirt]\ncpu_mode = custom\n[vnc]\n",
    );
  });

  it("is idempotent, and a value already in effect (even quoted) is not rewritten", () => {
    const once = set("[libvirt]\n#cpu_mode = <None>\n", "libvirt", "cpu_mode", "custom");
    expect(set(once, "libvirt", "cpu_mode", "custom")).toBe(once);
    expect(set('[libvirt]\ncpu_mode = "custom"\n', "libvirt", "cpu_mode", "custom")).toBe(
      '[libvirt]\ncpu_mode = "custom"\n',
    );
  });

  it("refuses a file starting with a BOM (nova-compute could not read it either)", () => {
    expect(() => set("\uFEFF[libvirt]\nvirt_type = kvm\n", "libvirt", "cpu_mode", "custom")).toThrow(
      /byte-order mark/,
    );
  });

  it("refuses multi-line values and odd key names", () => {
    const doc = parseNovaConf("[libvirt]\n");
    expect(() => setOption(doc, "libvirt", "cpu_mode", "a\nb")).toThrow(NovaConfError);
    expect(() => setOption(doc, "libvirt", "cpu mode", "x")).toThrow(/one-line values/);
  });
});

describe("appendToListOption (Mitaka's live_migration_flag)", () => {
  const DEFAULT =
    "VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED";
  const append = (text: string) =>
    serializeNovaConf(
      appendToListOption(
        parseNovaConf(text),
        "libvirt",
        "live_migration_flag",
        "VIR_MIGRATE_AUTO_CONVERGE",
        DEFAULT,
      ),
    );

  it("appends to the existing value, in its own separator style", () => {
    expect(append("[libvirt]\nlive_migration_flag=VIR_MIGRATE_LIVE,VIR_MIGRATE_PEER2PEER\n")).toBe(
      "[libvirt]\nlive_migration_flag=VIR_MIGRATE_LIVE,VIR_MIGRATE_PEER2PEER,VIR_MIGRATE_AUTO_CONVERGE\n",
    );
  });

  it("starts from the release default when unset", () => {
    expect(append("[libvirt]\nvirt_type = kvm\n")).toBe(
      `[libvirt]\nvirt_type = kvm\nlive_migration_flag = ${DEFAULT}, VIR_MIGRATE_AUTO_CONVERGE\n`,
    );
  });

  it("folds a multi-line (continued) flag list into one line with the flag added", () => {
    const before =
      "[libvirt]\nlive_migration_flag = VIR_MIGRATE_UNDEFINE_SOURCE,\n    VIR_MIGRATE_PEER2PEER,\n    VIR_MIGRATE_LIVE\n\n[vnc]\n";
    expect(append(before)).toBe(
      "[libvirt]\nlive_migration_flag = VIR_MIGRATE_UNDEFINE_SOURCE, VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_AUTO_CONVERGE\n\n[vnc]\n",
    );
  });

  it("never adds the flag twice", () => {
    const once = append("[libvirt]\n");
    expect(append(once)).toBe(once);
    const spaced = "[libvirt]\nlive_migration_flag = VIR_MIGRATE_LIVE ,  VIR_MIGRATE_AUTO_CONVERGE\n";
    expect(append(spaced)).toBe(spaced);
  });
});

describe("removeOption and renameOption", () => {
  it("removes every assignment with its continuation lines and keeps comments", () => {
    const doc = parseNovaConf("[libvirt]\n# keep\ncpu_model = a\n  b\ncpu_mode = custom\ncpu_model = c");
    expect(serializeNovaConf(removeOption(doc, "libvirt", "cpu_model"))).toBe(
      "[libvirt]\n# keep\ncpu_mode = custom",
    );
    expect(removeOption(doc, "libvirt", "nothing")).toBe(doc);
  });

  it("renames cpu_model to cpu_models on the same line", () => {
    const doc = parseNovaConf("[libvirt]\ncpu_mode=custom\ncpu_model=Haswell  \n[vnc]\n");
    expect(serializeNovaConf(renameOption(doc, "libvirt", "cpu_model", "cpu_models", "kvm64"))).toBe(
      "[libvirt]\ncpu_mode=custom\ncpu_models=kvm64\n[vnc]\n",
    );
  });
});

describe("proveOnlyKeysChanged (ini before and after)", () => {
  it("accepts exactly the intended change", () => {
    expect(() =>
      proveOnlyKeysChanged("[libvirt]\na = 1\n", "[libvirt]\na = 1\ncpu_mode = custom\n", [
        { section: "libvirt", key: "cpu_mode", value: "custom" },
      ]),
    ).not.toThrow();
  });

  it("throws when anything else moved, or the intended value is not there", () => {
    const intended = [{ section: "libvirt", key: "cpu_mode", value: "custom" }];
    const e1 = (() => {
      try {
        proveOnlyKeysChanged("[libvirt]\na = 1\n", "[libvirt]\na = 2\ncpu_mode = custom\n", intended);
      } catch (e) {
        return e as NovaConfError;
      }
    })();
    expect(e1?.code).toBe("NOVA_CONF_EDIT_UNSAFE");
    expect(e1?.message).toMatch(/libvirt a: "1" → "2"/);
    expect(() => proveOnlyKeysChanged("[libvirt]\n", "[libvirt]\ncpu_mode = host-model\n", intended)).toThrow(
      /is not "custom" afterwards/,
    );
    expect(() => proveOnlyKeysChanged("[libvirt]\na = 1\n", "[vnc]\na = 1\n", [])).toThrow(
      /changed more|change more/,
    );
  });
});

describe("unifiedDiff", () => {
  const dir = mkdtempSync(join(tmpdir(), "migbot-diff-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const gnu = (before: string, after: string): string => {
    const diff = requireProgram("diff", "diffutils");
    writeFileSync(join(dir, "a"), before);
    writeFileSync(join(dir, "b"), after);
    try {
      execFileSync(diff, ["-u", join(dir, "a"), join(dir, "b")]);
      return "";
    } catch (e) {
      return String((e as { stdout: Buffer }).stdout);
    }
  };
  const body = (d: string) => d.split("\n").slice(2).join("\n");

  it("is empty for equal texts and has git-style a/ b/ headers", () => {
    expect(unifiedDiff("/etc/nova/nova.conf", "x\n", "x\n")).toBe("");
    expect(unifiedDiff("/etc/nova/nova.conf", "x\n", "y\n").split("\n").slice(0, 3)).toEqual([
      "--- a/etc/nova/nova.conf",
      "+++ b/etc/nova/nova.conf",
      "@@ -1 +1 @@",
    ]);
  });

  it("produces the same hunks as GNU diff -u for seeded random edits of a real nova.conf", () => {
    const base = readFixture("nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf").split(
      "\n",
    );
    let seed = 20_160_407;
    const rnd = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    for (let t = 0; t < 25; t++) {
      const b = [...base];
      for (let e = 0; e < 1 + rnd(5); e++) {
        const at = rnd(b.length);
        const op = rnd(3);
        if (op === 0) b.splice(at, 1);
        else if (op === 1) b.splice(at, 0, `added_${t}_${e} = x`);
        else b[at] = `changed_${t}_${e} = y`;
      }
      const before = base.join("\n");
      const after = b.join("\n");
      expect(body(unifiedDiff("x", before, after))).toBe(body(gnu(before, after)));
    }
  });

  it("marks a missing final newline the way diff does", () => {
    expect(body(unifiedDiff("x", "[a]\nb = 1", "[a]\nb = 2"))).toBe(body(gnu("[a]\nb = 1", "[a]\nb = 2")));
  });

  it("shows a Zed sample edit as one small hunk", () => {
    const zed = readFixture("nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf");
    const after = set(zed, "libvirt", "cpu_mode", "custom");
    const d = unifiedDiff("/etc/nova/nova.conf", zed, after);
    expect(d.match(/^@@/gm)).toHaveLength(1);
    expect(d).toContain("-#cpu_mode = <None>\n+cpu_mode = custom\n");
    expect(body(d)).toBe(body(gnu(zed, after)));
  });
});

describe("ini agrees with the edits on the Zed sample", () => {
  it("sees only the edited key change", () => {
    const zed = readFixture("nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf");
    const after = set(zed, "libvirt", "live_migration_permit_auto_converge", "true");
    const b = decode(zed) as Record<string, Record<string, unknown>>;
    const a = decode(after) as Record<string, Record<string, unknown>>;
    expect(a.libvirt!.live_migration_permit_auto_converge).toBe(true);
    delete a.libvirt!.live_migration_permit_auto_converge;
    expect(a).toEqual(b);
  });
});
