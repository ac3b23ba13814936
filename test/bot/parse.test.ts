import { describe, expect, test } from "vitest";
import { parseDiagnose, parseMigrate } from "../../bot/commands/parse";

describe("/migrate text", () => {
  test("reads a VM and a destination", () => {
    expect(parseMigrate("vm-42 to compute-3")).toEqual({
      ok: true,
      request: { kind: "migrate", vm: "vm-42", destination: "compute-3" },
    });
    expect(parseMigrate("  vm-42   TO  compute-3 ")).toMatchObject({
      ok: true,
      request: { destination: "compute-3" },
    });
  });

  test("a VM alone lets the scheduler choose", () => {
    expect(parseMigrate("vm-42")).toEqual({
      ok: true,
      request: { kind: "migrate", vm: "vm-42", destination: null },
    });
  });

  test("subcommands", () => {
    expect(parseMigrate("status")).toMatchObject({ ok: true, request: { kind: "status", vm: null } });
    expect(parseMigrate("status db-1")).toMatchObject({ ok: true, request: { kind: "status", vm: "db-1" } });
    expect(parseMigrate("abort db-1")).toMatchObject({ ok: true, request: { kind: "abort", vm: "db-1" } });
    expect(parseMigrate("force-complete db-1")).toMatchObject({
      ok: true,
      request: { kind: "force-complete" },
    });
    expect(parseMigrate("audit 5")).toMatchObject({ ok: true, request: { kind: "audit", count: 5 } });
    expect(parseMigrate("")).toMatchObject({ ok: true, request: { kind: "help" } });
    expect(parseMigrate("help")).toMatchObject({ ok: true, request: { kind: "help" } });
  });

  test.each([
    "vm-42; rm -rf /",
    "vm-42 to compute-3 && reboot",
    "$(reboot) to compute-3",
    "vm-42 to `id`",
    "vm-42 to 'compute-3'",
    "vm-42|cat to compute-3",
  ])("shell metacharacters are refused with the right form: %s", (text) => {
    const r = parseMigrate(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toContain("Usage:");
      expect(r.error).toContain("/migrate &lt;vm&gt; to &lt;host&gt;");
    }
  });

  test("malformed text says what is wrong", () => {
    const r = parseMigrate("vm-42 compute-3");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/could not read/);
    const noHost = parseMigrate("vm-42 to");
    expect(noHost.ok).toBe(false);
    if (!noHost.ok) expect(noHost.error).toMatch(/which host/);
    const big = parseMigrate("audit 500");
    expect(big.ok).toBe(false);
  });

  test("a name cannot break out of the backticks it is shown in", () => {
    const r = parseMigrate("a`b to c");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.split("`").length % 2).toBe(1);
  });
});

describe("/diagnose text", () => {
  test("a VM, a VM and destination, or a host", () => {
    expect(parseDiagnose("db-1")).toEqual({
      ok: true,
      request: { kind: "diagnose", target: "db-1", destination: null },
    });
    expect(parseDiagnose("web-7 to compute-5")).toMatchObject({
      ok: true,
      request: { destination: "compute-5" },
    });
    expect(parseDiagnose("db-1 && true").ok).toBe(false);
  });
});
