import { describe, expect, it } from "vitest";
import {
  assignmentsOf,
  lastAssignment,
  parseNovaConf,
  serializeNovaConf,
} from "../../src/nova-conf/document";
import { NovaConfError } from "../../src/nova-conf/errors";
import { allHostConfigs, toCrlf } from "./fixtures";

function parseErr(text: string): NovaConfError {
  try {
    parseNovaConf(text, "/etc/nova/nova.conf");
  } catch (e) {
    if (e instanceof NovaConfError) return e;
    throw e;
  }
  throw new Error("expected a parse error");
}

describe("parseNovaConf on the real fixtures", () => {
  const all = allHostConfigs().flatMap((h) => h.files);

  it.each(all.map((f) => [f.name, f] as const))("%s: serializes back byte for byte, LF and CRLF", (_n, f) => {
    expect(serializeNovaConf(parseNovaConf(f.text, f.path))).toBe(f.text);
    expect(serializeNovaConf(parseNovaConf(toCrlf(f.text), f.path))).toBe(toCrlf(f.text));
    expect(parseNovaConf(toCrlf(f.text), f.path).eol).toBe("\r\n");
  });

  it("reads the Debian Zed sample's uncommented values and commented defaults", () => {
    const zed = all.find((f) => f.name === "zed nova.conf sample")!;
    const doc = parseNovaConf(zed.text, zed.path);
    expect(lastAssignment(doc, "DEFAULT", "state_path")?.value).toBe("/var/lib/nova");
    expect(lastAssignment(doc, "database", "connection")?.value).toBe("sqlite:////var/lib/nova/novadb");
    const libvirt = doc.sections.filter((s) => s.group === "libvirt");
    expect(libvirt).toHaveLength(1);
    const commented = doc.lines.filter(
      (l) => l.sectionIndex === doc.sections.indexOf(libvirt[0]!) && l.commented,
    );
    expect(commented.find((l) => l.commented!.key === "cpu_mode")?.commented?.value).toBe("<None>");
    expect(
      commented.find((l) => l.commented!.key === "live_migration_timeout_action")?.commented?.value,
    ).toBe("abort");
    // "# Deprecated group/name - [libvirt]/cpu_model" is prose, not a commented option.
    expect(commented.filter((l) => l.commented!.key === "cpu_model")).toEqual([]);
  });
});

describe("oslo.config's rules", () => {
  it("keeps '#' and ';' inside values (oslo has no inline comments) and strips one pair of quotes", () => {
    const doc = parseNovaConf(
      "[libvirt]\nconnection_uri = qemu:///system # local\nimages_rbd_pool = 'rbd;pool'\nx: \"y\"\n",
    );
    expect(lastAssignment(doc, "libvirt", "connection_uri")?.value).toBe("qemu:///system # local");
    expect(lastAssignment(doc, "libvirt", "images_rbd_pool")?.value).toBe("rbd;pool");
    expect(lastAssignment(doc, "libvirt", "x")?.value).toBe("y");
  });

  it("takes the first of ':' and '=' as the separator", () => {
    const doc = parseNovaConf("[database]\nconnection = mysql+pymysql://nova:pw@db/nova\nurl: http://a=b\n");
    expect(lastAssignment(doc, "database", "connection")?.value).toBe("mysql+pymysql://nova:pw@db/nova");
    expect(lastAssignment(doc, "database", "url")?.value).toBe("http://a=b");
  });

  it("joins indented continuation lines until a blank line, and keeps every duplicate", () => {
    const doc = parseNovaConf(
      "[libvirt]\nlive_migration_flag = VIR_MIGRATE_LIVE,\n\tVIR_MIGRATE_PEER2PEER\n\nx = 1\n[LIBVIRT]\nx=2\n",
    );
    expect(lastAssignment(doc, "libvirt", "live_migration_flag")?.value).toBe(
      "VIR_MIGRATE_LIVE,\nVIR_MIGRATE_PEER2PEER",
    );
    expect(assignmentsOf(doc, "libvirt", "x").map((a) => a.value)).toEqual(["1", "2"]);
    expect(lines(doc)).toEqual(["section", "option", "continuation", "blank", "option", "section", "option"]);
  });

  it("treats an indented comment after an option as part of its value, as oslo does", () => {
    const doc = parseNovaConf("[libvirt]\ncpu_mode = custom\n    # was host-model\n");
    expect(lastAssignment(doc, "libvirt", "cpu_mode")?.value).toBe("custom\n# was host-model");
  });

  it("matches section names case-insensitively except DEFAULT", () => {
    const doc = parseNovaConf("[Libvirt]\na = 1\n[default]\nb = 2\n[DEFAULT]\nc = 3\n");
    expect(lastAssignment(doc, "libvirt", "a")?.value).toBe("1");
    expect(lastAssignment(doc, "DEFAULT", "b")).toBeUndefined();
    expect(lastAssignment(doc, "DEFAULT", "c")?.value).toBe("3");
  });

  it("keeps CRLF, mixed endings and a missing final newline as they are", () => {
    for (const text of ["[a]\r\nx=1\r\n", "[a]\r\nx=1\ny=2", "", "\n\n", "[a]\nx = 1\r\n\r\n# end"]) {
      expect(serializeNovaConf(parseNovaConf(text))).toBe(text);
    }
    expect(parseNovaConf("[a]\r\nx=1\r\ny=2\n").eol).toBe("\r\n");
  });

  it.each([
    ["[libvirt\nx = 1\n", 1, /Invalid section \(must end with \]\)/],
    ["[]\n", 1, /Empty section name/],
    ["x = 1\n", 1, /Section must be started before assignment/],
    ["[libvirt]\n...\n", 2, /No ':' or '=' found in assignment/],
    ["[libvirt]\n= 1\n", 2, /Key cannot be empty/],
    ["[libvirt]\nx = 1\n\n  y\n", 4, /Unexpected continuation line/],
    ["[libvirt]\n# c\n  x = 1\n", 3, /Unexpected continuation line/],
  ])("rejects %j at line %i like oslo.config", (text, line, message) => {
    const err = parseErr(text);
    expect(err.code).toBe("NOVA_CONF_PARSE");
    expect(err.location).toEqual({ path: "/etc/nova/nova.conf", line });
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(/^\/etc\/nova\/nova\.conf:\d+: /);
  });

  it("rejects a UTF-8 BOM, which oslo.config reads as part of line 1, and says so", () => {
    const err = parseErr("\uFEFF[DEFAULT]\nx = 1\n");
    expect(err.location?.line).toBe(1);
    expect(err.message).toMatch(/byte-order mark/);
  });
});

function lines(doc: ReturnType<typeof parseNovaConf>): string[] {
  return doc.lines.map((l) => l.kind);
}
