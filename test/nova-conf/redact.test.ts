import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { planNovaConfFix } from "../../src/fixes/nova-conf-plan";
import { parseNovaConf, serializeNovaConf } from "../../src/nova-conf/document";
import { proveOnlyKeysChanged, setOption, unifiedDiff } from "../../src/nova-conf/edit";
import { effectiveSettings } from "../../src/nova-conf/effective";
import { NovaConfError } from "../../src/nova-conf/errors";
import {
  isSecretOption,
  REDACTED,
  redactConfDiff,
  redactConfText,
  SECRET_OPTION_NAMES,
} from "../../src/nova-conf/redact";
import { releaseByName } from "../../src/nova-conf/releases";
import { PROJECT_ROOT, readFixture } from "../support/fixtures";
import { allHostConfigs, toCrlf } from "./fixtures";

const MITAKA_EXAMPLE = "nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf";
const SANDBOX_CONF_DIR = join(PROJECT_ROOT, "src/sandbox/data/nova-conf");

/** Every real nova.conf-like file: the shared fixtures (install guides' snippets included) and the sandbox's copies. */
function realFiles(): { name: string; text: string }[] {
  const shared = allHostConfigs().flatMap((c) => c.files.map((f) => ({ name: f.name, text: f.text })));
  const sandbox = readdirSync(SANDBOX_CONF_DIR).map((f) => ({
    name: `sandbox ${f}`,
    text: readFileSync(join(SANDBOX_CONF_DIR, f), "utf8"),
  }));
  return [...shared, ...sandbox];
}

function lineEndings(text: string): string[] {
  return text.match(/\r\n|\n|\r/g) ?? [];
}

describe("secrets in the real config files", () => {
  const files = realFiles();

  test("the fixtures hold secrets to mask at all (else the tests below prove nothing)", () => {
    const all = files.map((f) => f.text).join("\n");
    for (const s of ["yourpassword", "NOVA_DBPASS", "RABBIT_PASS", "NOVA_PASS", "admin_password = nova"]) {
      expect(all).toContain(s);
    }
  });

  test.each(files.map((f) => [f.name, f.text] as const))(
    "%s: every secret option's value is masked, every other option line is untouched, lines and endings kept",
    (_name, text) => {
      for (const variant of [text, toCrlf(text)]) {
        const shown = redactConfText(variant);
        expect(lineEndings(shown)).toEqual(lineEndings(variant));
        const doc = parseNovaConf(variant);
        const shownLines = shown.split(/\r\n|\n|\r/);
        for (const a of doc.assignments) {
          const line = shownLines[a.lineIndex]!;
          if (SECRET_OPTION_NAMES.has(a.key) && a.value !== "") {
            expect(line).toMatch(new RegExp(`^${a.key}\\s*[=:]\\s*${REDACTED}$`));
            expect(line).not.toContain(a.value);
          } else if (!isSecretOption(a.key) && !a.value.includes("@")) {
            expect(line).toBe(doc.lines[a.lineIndex]!.text);
          }
        }
        for (const secret of ["yourpassword", "NOVA_DBPASS", "RABBIT_PASS", "NOVA_PASS"]) {
          expect(shown).not.toContain(secret);
        }
      }
    },
  );

  test("the real Liberty/Mitaka example: its two secrets masked, the rest as it was", () => {
    const text = readFixture(MITAKA_EXAMPLE);
    const shown = redactConfText(text);
    const changed = text.split("\n").filter((l, i) => l !== shown.split("\n")[i]);
    expect(changed).toEqual([
      "admin_password = nova",
      "connection=mysql+pymysql://nova:yourpassword@192.168.206.130/nova",
    ]);
    expect(shown).toContain("admin_password = <redacted>\n");
    expect(shown).toContain("connection=<redacted>\n");
  });

  test("the Zed sample's help text and commented defaults stay readable", () => {
    const text = readFixture("nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf");
    const shown = redactConfText(text);
    for (const kept of [
      "#token_ttl = 600",
      "#inject_password = false",
      "#password = <None>",
      "#rbd_secret_uuid = <None>",
      "#enforce_token_bind = permissive",
      "# * A list of valid key=value which reflect NUMA node ID, page size",
    ]) {
      expect(shown).toContain(kept);
    }
    // Its example URL's password and its two uncommented secrets are not.
    expect(shown).toContain("# Example: rabbit://rabbitmq:<redacted>@127.0.0.1:5672//");
    expect(shown).toContain("\nconnection = <redacted>\n");
    expect(shown).not.toContain("sqlite:////var/lib/nova/novadb");
  });
});

/** [text, secrets that must not show, texts that must still show] */
const HOSTILE: [string, string, string[], string[]][] = [
  [
    "multi-host transport_url",
    "[DEFAULT]\ntransport_url = rabbit://u:P1secret@a,u:P2secret@b//\n",
    ["P1secret", "P2secret"],
    ["transport_url = <redacted>"],
  ],
  [
    "multi-host URL under an option migbot does not know",
    "[custom]\nbroker = rabbit://u:P1secret@a:5672,u:P2secret@b:5672/vhost\n",
    ["P1secret", "P2secret"],
    ["broker = rabbit://u:<redacted>@b:5672/vhost"],
  ],
  [
    "a password holding '@'",
    "[database]\nconnection = mysql+pymysql://nova:p@ss@word@db/nova\n[x]\nurl = mysql://nova:p@ss@word@db/nova\n",
    ["p@ss", "ss@word", "word@db"],
    ["connection = <redacted>", "url = mysql://nova:<redacted>@db/nova"],
  ],
  [
    "a password holding ':', '/', '#' and a space",
    "[x]\nurl = rabbit://u:pa:ss/wo#rd x@h//\n",
    ["pa:ss", "ss/wo", "rd x"],
    ["url = rabbit://u:<redacted>@h//"],
  ],
  [
    "a percent-encoded password",
    "[x]\nurl = rabbit://u:p%40ss%3Aw%2F@h//\n[DEFAULT]\ntransport_url=rabbit://u:p%40ss%3Aw%2F@h//\n",
    ["p%40ss", "%3Aw", "%2F"],
    ["url = rabbit://u:<redacted>@h//", "transport_url=<redacted>"],
  ],
  [
    "`key: value` lines, as oslo.config reads them",
    "[keystone_authtoken]\npassword: colonsecret1\nadmin_password:colonsecret2\ntransport_url : rabbit://u:colonsecret3@h//\n",
    ["colonsecret1", "colonsecret2", "colonsecret3"],
    ["password: <redacted>", "admin_password:<redacted>", "transport_url : <redacted>"],
  ],
  [
    "a quoted value",
    "[neutron]\npassword = \"quotedsecret\"\nmetadata_proxy_shared_secret = 'quotedsecret2'\n",
    ["quotedsecret", "quotedsecret2"],
    ["password = <redacted>", "metadata_proxy_shared_secret = <redacted>"],
  ],
  [
    "a secret over continuation lines (space and tab)",
    "[placement]\npassword = first-part\n  second-part\n\tthird-part\nregion_name = RegionOne\n",
    ["first-part", "second-part", "third-part"],
    ["password = <redacted>\n  <redacted>\n\t<redacted>\nregion_name = RegionOne"],
  ],
  [
    "an empty first line whose value continues",
    "[placement]\npassword =\n  the-real-secret\n",
    ["the-real-secret"],
    ["password =\n  <redacted>"],
  ],
  [
    "a public option's continuation stays readable, a secret pair in it does not",
    "[libvirt]\nlive_migration_flag = VIR_MIGRATE_LIVE,\n  VIR_MIGRATE_PEER2PEER, password=pairsecret\n",
    ["pairsecret"],
    ["live_migration_flag = VIR_MIGRATE_LIVE,\n  VIR_MIGRATE_PEER2PEER, password=<redacted>"],
  ],
  [
    "an indented assignment after a public option (oslo reads it as part of that value)",
    "[libvirt]\nlive_migration_flag = VIR_MIGRATE_LIVE,\n  password = ind1secret\n  #admin_password: ind2secret\n",
    ["ind1secret", "ind2secret"],
    ["live_migration_flag = VIR_MIGRATE_LIVE,\n  password = <redacted>\n  #admin_password: <redacted>"],
  ],
  [
    "a secret written inside another option's value",
    "[DEFAULT]\nmy_notes = broker password: val1secret\n",
    ["val1secret"],
    ["my_notes = broker password: <redacted>"],
  ],
  [
    "a section line oslo.config rejects",
    "[database] connection = mysql://nova:sec1secret@db/nova\n[x] password = sec2secret\n[ok]\n",
    ["sec1secret", "sec2secret"],
    ["<redacted>\n<redacted>\n[ok]\n"],
  ],
  [
    "commented-out secrets",
    "[DEFAULT]\n#password = c1secret\n# password = c2secret\n;password=c3secret\n#admin_password: c4secret\n##transport_url = rabbit://u:c5secret@h//\n#  the old db password: c6secret\n",
    ["c1secret", "c2secret", "c3secret", "c4secret", "c5secret", "c6secret"],
    [
      "#password = <redacted>",
      "# password = <redacted>",
      ";password=<redacted>",
      "#admin_password: <redacted>",
    ],
  ],
  [
    "CRLF line endings",
    "[DEFAULT]\r\npassword = crlfsecret\r\n  crlfsecret2\r\ndebug = true\r\n",
    ["crlfsecret", "crlfsecret2"],
    ["[DEFAULT]\r\npassword = <redacted>\r\n  <redacted>\r\ndebug = true\r\n"],
  ],
  [
    "lone CR line endings (Python's text mode reads them as newlines)",
    "[DEFAULT]\rpassword = crsecret\rdebug = true\r",
    ["crsecret"],
    ["[DEFAULT]\rpassword = <redacted>\rdebug = true\r"],
  ],
  [
    "a line oslo.config cannot parse, and an indented line after a blank",
    "[DEFAULT]\nstraysecret\n\n   indentedsecret\n",
    ["straysecret", "indentedsecret"],
    ["[DEFAULT]\n<redacted>\n\n   <redacted>\n"],
  ],
  [
    "dashes, capitals and a byte-order mark in the name",
    "\uFEFF[DEFAULT]\nclient-secret = d1secret\nPASSWORD = d2secret\nConnection = mysql://u:d3secret@h/db\n",
    ["d1secret", "d2secret", "d3secret"],
    ["client-secret = <redacted>", "PASSWORD = <redacted>"],
  ],
  [
    "secrets in URL query strings and name=value lists",
    "[database]\nconnection_parameters = charset=utf8&password=q1secret\n[x]\nurl = redis://h:6379?db=0&token=q2secret\n",
    ["q1secret", "q2secret"],
    ["charset=utf8&password=<redacted>", "url = redis://h:6379?db=0&token=<redacted>"],
  ],
  [
    "oslo.cache backend arguments and an out-of-tree driver's password",
    "[cache]\nbackend_argument = url:redis://:b1secret@h:6379\n[my_driver]\napi_passwd = b2secret\nsasl_secret_key = b3secret\n",
    ["b1secret", "b2secret", "b3secret"],
    ["backend_argument = <redacted>", "api_passwd = <redacted>"],
  ],
];

describe("hostile cases", () => {
  test.each(HOSTILE)("%s", (_name, text, secrets, shownParts) => {
    const shown = redactConfText(text);
    for (const s of secrets) expect(shown).not.toContain(s);
    for (const p of shownParts) expect(shown).toContain(p);
    expect(lineEndings(shown)).toEqual(lineEndings(text));
  });

  test("every option named in the list is masked, written with '=', ':', or commented out", () => {
    expect(SECRET_OPTION_NAMES.size).toBeGreaterThan(30);
    for (const name of SECRET_OPTION_NAMES) {
      const secret = `S3cret-${name}`;
      for (const line of [`${name} = ${secret}`, `${name}:${secret}`, `#${name} = ${secret}`]) {
        const shown = redactConfText(`[any_section]\n${line}\n`);
        expect(shown, line).not.toContain(secret);
        expect(shown, line).toContain(REDACTED);
      }
    }
  });

  test("a name that is public only in part is still masked", () => {
    const shown = redactConfText("[my_driver]\nprivate key = pk1secret\napi_token_ttl_key = pk2secret\n");
    expect(shown).not.toMatch(/pk1secret|pk2secret/);
  });

  test("options that are not secrets keep their values (URLs without passwords too)", () => {
    const text = [
      "[libvirt]",
      "cpu_mode = custom",
      "cpu_models = Haswell-noTSX",
      "live_migration_uri = qemu+ssh://nova@%s/system",
      "live_migration_permit_auto_converge = true",
      "[keystone_authtoken]",
      "auth_url = http://controller:5000/v3",
      "auth_type = password",
      "username = nova",
      "[consoleauth]",
      "token_ttl = 600",
      "",
    ].join("\n");
    expect(redactConfText(text)).toBe(text);
  });
});

describe("unified diffs", () => {
  test("diff markers: added, removed and context lines are masked, headers and notes kept", () => {
    const diff = [
      "--- a/etc/nova/nova.conf",
      "+++ b/etc/nova/nova.conf",
      "@@ -1,5 +1,5 @@",
      " [DEFAULT]",
      "-password = oldsecret",
      "+password = newsecret",
      " transport_url = rabbit://u:ctxsecret@h//",
      "-#admin_password = commentsecret",
      "+cpu_mode = custom",
      "\\ No newline at end of file",
      "",
    ].join("\n");
    const shown = redactConfDiff(diff);
    for (const s of ["oldsecret", "newsecret", "ctxsecret", "commentsecret"]) expect(shown).not.toContain(s);
    expect(shown.split("\n")).toEqual([
      "--- a/etc/nova/nova.conf",
      "+++ b/etc/nova/nova.conf",
      "@@ -1,5 +1,5 @@",
      " [DEFAULT]",
      "-password = <redacted>",
      "+password = <redacted>",
      " transport_url = <redacted>",
      "-#admin_password = <redacted>",
      "+cpu_mode = custom",
      "\\ No newline at end of file",
      "",
    ]);
  });

  test("a hunk that starts inside a secret's continuation lines shows none of them", () => {
    const before =
      "[placement]\npassword = part1\n  part2\n  part3\nregion_name = R\nusername = nova\nx = 1\n";
    const after = before.replace("x = 1", "x = 2");
    const raw = unifiedDiff("/etc/nova/nova.conf", before, after);
    expect(raw.split("\n")[3]).toBe("   part3"); // the hunk's first context line continues the password
    for (const shown of [
      redactConfDiff(raw),
      unifiedDiff("/etc/nova/nova.conf", before, after, { redactSecrets: true }),
    ]) {
      expect(shown).not.toContain("part3");
      expect(shown).toContain("+x = 2");
    }
  });

  test("with the whole files known, a public option's continuation at a hunk's top stays readable", () => {
    const before =
      "[libvirt]\nlive_migration_flag = VIR_MIGRATE_LIVE,\n  VIR_MIGRATE_PEER2PEER,\n  VIR_MIGRATE_TUNNELLED\na = 1\nb = 2\nc = 3\n";
    const after = before.replace("c = 3", "c = 4");
    const shown = unifiedDiff("/etc/nova/nova.conf", before, after, { redactSecrets: true });
    expect(shown).toContain("   VIR_MIGRATE_TUNNELLED\n");
    // Without the files the owner is unknown, so the diff-only redaction hides it.
    expect(redactConfDiff(unifiedDiff("/etc/nova/nova.conf", before, after))).toContain("   <redacted>\n");
  });

  test("a change to a secret still shows as a changed line", () => {
    const shown = unifiedDiff("x", "[a]\npassword = one\n", "[a]\npassword = two\n", { redactSecrets: true });
    expect(shown).toContain("-password = <redacted>\n+password = <redacted>\n");
    expect(shown).not.toMatch(/one|two/);
  });

  test("on the real example, redacting while diffing equals redacting the plain diff", () => {
    const base = readFixture(MITAKA_EXAMPLE);
    const lines = base.split("\n");
    for (let at = 0; at < lines.length; at += 7) {
      const after = [...lines.slice(0, at), `added_${at} = x`, ...lines.slice(at)].join("\n");
      expect(unifiedDiff("x", base, after, { redactSecrets: true })).toBe(
        redactConfDiff(unifiedDiff("x", base, after)),
      );
    }
  });

  test("a fix's diff never carries a password from its context lines", () => {
    const text = [
      "[DEFAULT]",
      "transport_url = rabbit://nova:Pa@ss1@mq1,nova:Pa:ss2@mq2//",
      "[database]",
      "connection: mysql://nova:s3cr3t@db/nova",
      "[libvirt]",
      "# cpu_mode = <None>",
      "virt_type = kvm",
      "",
    ].join("\r\n");
    const plan = planNovaConfFix(
      "cpu-model",
      [{ path: "/etc/nova/nova.conf", text }],
      releaseByName("mitaka"),
    );
    const diff = plan.files.map((f) => f.diff).join("\n");
    expect(diff).toMatch(/\+cpu_mode ?= ?custom/);
    for (const s of ["s3cr3t", "Pa@ss1", "ss1", "Pa:ss2", "ss2"]) expect(diff).not.toContain(s);
    // The file itself (what is written to the host) keeps the real values.
    expect(plan.files[0]!.after).toContain("s3cr3t");
    expect(plan.files[0]!.after).toContain("Pa:ss2");
  });
});

function thrown(fn: () => unknown): NovaConfError {
  try {
    fn();
  } catch (err) {
    if (err instanceof NovaConfError) return err;
    throw err;
  }
  throw new Error("expected a NovaConfError");
}

describe("error messages never quote a secret", () => {
  test.each([
    ["a stray line", "[DEFAULT]\nstrayzq9\n", 2, "No ':' or '=' found in assignment"],
    ["an indented line after a blank", "[DEFAULT]\n\n  indentzq9\n", 3, "Unexpected continuation line"],
    ["an unterminated section", "[DEFAULT]\n[sectionzq9\n", 2, "Invalid section (must end with ])"],
    ["an assignment before any section", "passzq9 = 1\n", 1, "Section must be started before assignment"],
    ["an empty key", "[DEFAULT]\n= emptykeyzq9\n", 2, "Key cannot be empty"],
  ])("parse error: %s names the file, line and reason but not the line", (_n, text, line, reason) => {
    const err = thrown(() => parseNovaConf(text, "/etc/nova/nova.conf"));
    expect(err.code).toBe("NOVA_CONF_PARSE");
    expect(err.message).toContain(`/etc/nova/nova.conf:${line}: ${reason}`);
    expect(err.message).toMatch(/fix that line first/);
    expect(err.reason).toBe(reason);
    expect(err.message).not.toContain("zq9");
  });

  test("an invalid value shown in an error has its URL password masked", () => {
    const err = thrown(() =>
      effectiveSettings(
        [{ path: "/etc/nova/nova.conf", text: "[libvirt]\nvirt_type = kvm://u:valsecret@h\n" }],
        releaseByName("zed"),
      ),
    );
    expect(err.code).toBe("NOVA_CONF_INVALID_VALUE");
    expect(err.message).toContain("virt_type");
    expect(err.message).not.toContain("valsecret");
  });

  test("a `password += x` warning names the line, not the value", () => {
    const s = effectiveSettings(
      [
        {
          path: "/etc/nova/nova.conf",
          text: "[libvirt]\nvirt_type = kvm\n[neutron]\npassword += warnsecret\n",
        },
      ],
      releaseByName("zed"),
    );
    expect(s.warnings.join("\n")).toContain("'password +='");
    expect(s.warnings.join("\n")).not.toContain("warnsecret");
  });

  test("the edit-safety proof names a changed option but not a secret value, nor a `key: value` line", () => {
    for (const [before, after] of [
      ["[a]\npassword = oldsecret\n", "[a]\npassword = newsecret\n"],
      ["[a]\npassword: oldsecret\n", "[a]\npassword: newsecret\n"],
      ["[a]\nx = 1\n  oldsecret\n", "[a]\nx = 1\n  newsecret\n"],
    ] as const) {
      const err = thrown(() => proveOnlyKeysChanged(before, after, [{ section: "a", key: "y", value: "1" }]));
      expect(err.code).toBe("NOVA_CONF_EDIT_UNSAFE");
      expect(err.message).not.toMatch(/oldsecret|newsecret/);
    }
    const err = thrown(() =>
      proveOnlyKeysChanged("[a]\ndebug = false\n", "[a]\ndebug = true\n", [{ section: "a", key: "y" }]),
    );
    expect(err.message).toContain("a debug: false → true");
  });

  test("a refused write of a secret option does not echo the value", () => {
    const doc = parseNovaConf("[database]\n", "/etc/nova/nova.conf");
    const err = thrown(() => setOption(doc, "database", "connection", "mysql://u:writesecret@h/db\nx"));
    expect(err.code).toBe("NOVA_CONF_UNSUPPORTED");
    expect(err.message).not.toContain("writesecret");
    expect(serializeNovaConf(doc)).toBe("[database]\n");
  });
});

describe("hostile sizes", () => {
  // Python's rstrip as a regex (`\s+$`) retried from every blank of a run: 40 000 blanks took 4 s,
  // a megabyte hours. These finish at once now; before, they would never reach the assertions.
  const MEGABYTE = 1_000_000;

  test("a 1 MB run of blanks inside a secret's value is read and masked", () => {
    const text = `[DEFAULT]\npassword = a${" ".repeat(MEGABYTE)}zq9tail\n`;
    expect(parseNovaConf(text).assignments[0]!.value.endsWith("zq9tail")).toBe(true);
    expect(redactConfText(text)).toBe("[DEFAULT]\npassword = <redacted>\n");
  });

  test("a 1 MB indented line is oslo's continuation error, masked when shown", () => {
    const text = `[DEFAULT]\n\n${" ".repeat(MEGABYTE)}zq9\n`;
    const err = thrown(() => parseNovaConf(text));
    expect(err.reason).toBe("Unexpected continuation line");
    expect(err.message.length).toBeLessThan(1000);
    expect(redactConfText(text)).toBe(`[DEFAULT]\n\n${" ".repeat(MEGABYTE)}<redacted>\n`);
  });

  test("1 MB of URL-ish and pair-ish text is masked where it holds a secret", () => {
    const pairs = `[x]\nurl = http://h/?${"a=b&".repeat(MEGABYTE / 4)}token=zq9\n`;
    expect(redactConfText(pairs)).not.toContain("zq9");
    const colons = `[x]\nurl = x://${":".repeat(MEGABYTE)}zq9@h\n`;
    expect(redactConfText(colons)).toBe("[x]\nurl = x://:<redacted>@h\n");
  });
});
