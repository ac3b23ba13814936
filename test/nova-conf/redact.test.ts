import { describe, expect, test } from "vitest";
import { planNovaConfFix } from "../../src/fixes/nova-conf-plan";
import { REDACTED, redactConfText } from "../../src/nova-conf/redact";
import { releaseByName } from "../../src/nova-conf/releases";
import { readFixture } from "../support/fixtures";

const MITAKA_EXAMPLE = "nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf";

describe("secrets in nova.conf text shown to people", () => {
  test("passwords and URL credentials of the real example file are masked, the rest kept", () => {
    const text = readFixture(MITAKA_EXAMPLE);
    const shown = redactConfText(text);
    expect(text).toContain("yourpassword");
    expect(shown).not.toContain("yourpassword");
    expect(shown).toMatch(/admin_password = <redacted>/);
    expect(shown).toContain(`mysql+pymysql://nova:${REDACTED}@192.168.206.130/nova`);
    expect(shown.split("\n")).toHaveLength(text.split("\n").length);
    // Options that are not secrets are untouched.
    for (const line of text.split("\n").filter((l) => /^(my_ip|compute_driver|auth_strategy)\b/.test(l))) {
      expect(shown).toContain(line);
    }
  });

  test("a fix's diff never carries a password from its context lines", () => {
    const text =
      "[database]\nconnection = mysql://nova:s3cr3t@db/nova\n[libvirt]\n# cpu_mode = <None>\nvirt_type = kvm\n";
    const plan = planNovaConfFix(
      "cpu-model",
      [{ path: "/etc/nova/nova.conf", text }],
      releaseByName("mitaka"),
    );
    const diff = plan.files.map((f) => f.diff).join("\n");
    expect(diff).toMatch(/\+cpu_mode ?= ?custom/);
    expect(diff).not.toContain("s3cr3t");
    // The file itself (what is written to the host) keeps the real value.
    expect(plan.files[0]!.after).toContain("s3cr3t");
  });
});
