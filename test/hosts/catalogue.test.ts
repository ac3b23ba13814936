/**
 * The catalogue's own guarantees that the sudoers file (deploy/sudoers.d/migbot) builds on: virsh
 * gets one argument per word, never a `;`-separated command line; tenant-chosen domain names that
 * could smuggle a second command are refused before anything is sent; only nova-compute restarts.
 */
import { describe, expect, test } from "vitest";
import {
  ALLOWED_SERVICES,
  CatalogueError,
  commandArgv,
  MAX_LOG_LINES,
  parseCommandLine,
  RESTARTABLE_SERVICES,
  renderCommand,
  tokenize,
} from "../../src/hosts/catalogue";

/** Names a tenant or an operator could give a VM, each trying to reach past `virsh domjobinfo`. */
const HOSTILE_DOMAINS = [
  "x; destroy vm1",
  "x;destroy vm1",
  "x destroy vm1",
  "x\ndestroy vm1",
  "x\tdestroy",
  "x && virsh destroy vm1",
  "x | sh",
  "x$(reboot)",
  "x`id`",
  "x'",
  'x"',
  "x\\",
  "x#",
  "--completed",
  "-x",
  ".hidden",
  "",
  "a".repeat(129),
  "instance-1\u0000",
];

describe("virsh arguments", () => {
  test("virsh gets each argument as its own word, and the line splits back into exactly those", () => {
    for (const domain of ["instance-0000002a", "A", "vm_1.test-2", "a".repeat(128)]) {
      for (const completed of [false, true]) {
        const { argv } = commandArgv({ kind: "virsh-domjobinfo", domain, completed });
        expect(argv).toEqual(["virsh", "domjobinfo", ...(completed ? ["--completed"] : []), domain]);
        const { line } = renderCommand({ kind: "virsh-domjobinfo", domain, completed }, { sudo: true });
        expect(tokenize(line)).toEqual(["sudo", "-n", "--", ...argv]);
        expect(line).not.toMatch(/[;&|\n]/);
      }
    }
  });

  test("a domain name holding a second command is refused, by rendering and by the sandbox's parser", () => {
    for (const domain of HOSTILE_DOMAINS) {
      for (const completed of [false, true]) {
        expect(() => renderCommand({ kind: "virsh-domjobinfo", domain, completed }), domain).toThrow(
          CatalogueError,
        );
      }
    }
    // The forms a review showed virsh would run as two commands never parse as catalogue lines.
    expect(parseCommandLine("virsh 'domjobinfo x; destroy vm1'")).toBeNull();
    expect(parseCommandLine("virsh domjobinfo 'x; destroy vm1'")).toBeNull();
    expect(parseCommandLine("sudo -n -- virsh 'domjobinfo x' destroy")).toBeNull();
    expect(parseCommandLine("sudo -n -- virsh domjobinfo instance-1")).toEqual({
      command: { kind: "virsh-domjobinfo", domain: "instance-1" },
      sudo: true,
    });
  });
});

describe("services and counts", () => {
  test("is-active takes every allowed service; restart only nova-compute's units, never libvirtd", () => {
    for (const service of ALLOWED_SERVICES) {
      expect(commandArgv({ kind: "systemctl-is-active", service }).argv).toEqual([
        "systemctl",
        "is-active",
        service,
      ]);
    }
    for (const service of RESTARTABLE_SERVICES) {
      expect(commandArgv({ kind: "systemctl-restart", service }).argv).toEqual([
        "systemctl",
        "restart",
        service,
      ]);
    }
    expect(() => commandArgv({ kind: "systemctl-restart", service: "libvirtd" })).toThrow(
      /not a service migbot restarts/,
    );
    expect(parseCommandLine("sudo -n -- systemctl restart libvirtd")).toBeNull();
  });

  test("tail takes 1 to MAX_LOG_LINES lines", () => {
    const path = "/var/log/nova/nova-compute.log";
    expect(commandArgv({ kind: "tail-log", path, lines: MAX_LOG_LINES }).argv).toEqual([
      "tail",
      "-n",
      String(MAX_LOG_LINES),
      "--",
      path,
    ]);
    for (const lines of [0, -1, MAX_LOG_LINES + 1, 1.5, Number.NaN]) {
      expect(() => commandArgv({ kind: "tail-log", path, lines }), String(lines)).toThrow(CatalogueError);
    }
  });
});

describe("file commands", () => {
  test("writes go into an existing temp file only, copies and renames replace the destination itself", () => {
    const temp = "/etc/nova/.nova.conf.migbot-tmp-0123456789ab";
    expect(commandArgv({ kind: "write-file", path: temp, content: "x" }).argv).toEqual([
      "dd",
      "status=none",
      "conv=nocreat,fsync",
      "oflag=nofollow",
      `of=${temp}`,
    ]);
    expect(commandArgv({ kind: "copy-file", from: "/etc/nova/nova.conf", to: temp }).argv).toEqual([
      "cp",
      "-p",
      "-T",
      "--remove-destination",
      "--",
      "/etc/nova/nova.conf",
      temp,
    ]);
    expect(commandArgv({ kind: "rename-file", from: temp, to: "/etc/nova/nova.conf" }).argv).toEqual([
      "mv",
      "-f",
      "-T",
      "--",
      temp,
      "/etc/nova/nova.conf",
    ]);
    expect(() => commandArgv({ kind: "write-file", path: "/etc/nova/nova.conf", content: "x" })).toThrow(
      /not a migbot temp file/,
    );
    for (const line of [
      renderCommand({ kind: "write-file", path: temp, content: "" }, { sudo: true }).line,
      renderCommand({ kind: "copy-file", from: "/etc/nova/nova.conf", to: temp }).line,
      renderCommand({ kind: "rename-file", from: temp, to: "/etc/nova/nova.conf" }).line,
    ]) {
      expect(parseCommandLine(line), line).not.toBeNull();
    }
    // The forms before issue 11 (dd creating the file with the umask) are no longer catalogue lines.
    expect(parseCommandLine(`dd status=none of=${temp}`)).toBeNull();
    expect(parseCommandLine(`chmod --reference=/etc/nova/nova.conf -- ${temp}`)).toBeNull();
  });
});

describe("the CPU commands nova 2023.1+ needs: domcapabilities, hypervisor-cpu-compare, hypervisor-cpu-baseline", () => {
  test("render exactly the words the sudoers rules allow, with the XML on stdin, and parse back", () => {
    const cases = [
      [{ kind: "virsh-domcapabilities" }, "sudo -n -- virsh domcapabilities", undefined],
      [
        { kind: "virsh-hypervisor-cpu-compare", cpuXml: "<cpu/>" },
        "sudo -n -- virsh hypervisor-cpu-compare --error /dev/stdin",
        "<cpu/>",
      ],
      [
        { kind: "virsh-hypervisor-cpu-baseline", cpusXml: "<cpu/><cpu/>" },
        "sudo -n -- virsh hypervisor-cpu-baseline /dev/stdin",
        "<cpu/><cpu/>",
      ],
    ] as const;
    for (const [cmd, line, stdin] of cases) {
      expect(renderCommand(cmd, { sudo: true })).toEqual(stdin === undefined ? { line } : { line, stdin });
      expect(parseCommandLine(line)).toEqual({
        command:
          cmd.kind === "virsh-domcapabilities"
            ? cmd
            : { ...cmd, ...("cpuXml" in cmd ? { cpuXml: "" } : { cpusXml: "" }) },
        sudo: true,
      });
    }
  });

  test("other forms of the same virsh commands are not catalogue lines", () => {
    for (const line of [
      "virsh domcapabilities --virttype qemu",
      "virsh domcapabilities --emulatorbin /tmp/evil",
      "virsh hypervisor-cpu-compare /dev/stdin",
      "virsh hypervisor-cpu-compare --error /etc/shadow",
      "virsh hypervisor-cpu-baseline --features /dev/stdin",
      "virsh hypervisor-cpu-baseline /etc/shadow",
    ]) {
      expect(parseCommandLine(line), line).toBeNull();
    }
  });
});
