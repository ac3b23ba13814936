/** The prediction's host commands: the exact lines migbot sends, and hostile arguments refused before anything is sent. */
import { describe, expect, test } from "vitest";
import { CatalogueError, parseCommandLine, renderCommand } from "../../src/hosts/catalogue";

describe("dirty-rate and link commands in the catalogue", () => {
  test("render as the lab ran them, with sudo when asked, and parse back", () => {
    const lines = [
      renderCommand({ kind: "virsh-version" }).line,
      renderCommand({ kind: "virsh-domdirtyrate-calc", domain: "instance-00000101", seconds: 1 }).line,
      renderCommand({ kind: "virsh-domstats-dirtyrate", domain: "instance-00000101" }, { sudo: true }).line,
      renderCommand({ kind: "ip-route-get", address: "10.99.0.12" }).line,
      renderCommand({ kind: "read-nic-speed", iface: "eth0" }).line,
    ];
    expect(lines).toEqual([
      "virsh version",
      "virsh domdirtyrate-calc instance-00000101 --seconds 1",
      "sudo -n -- virsh domstats --dirtyrate instance-00000101",
      "ip -o route get 10.99.0.12",
      "cat -- /sys/class/net/eth0/speed",
    ]);
    expect(lines.map((l) => parseCommandLine(l)?.command.kind)).toEqual([
      "virsh-version",
      "virsh-domdirtyrate-calc",
      "virsh-domstats-dirtyrate",
      "ip-route-get",
      "read-nic-speed",
    ]);
  });

  test.each([
    { kind: "virsh-domdirtyrate-calc", domain: "vm1", seconds: 0 },
    { kind: "virsh-domdirtyrate-calc", domain: "vm1", seconds: 61 },
    { kind: "virsh-domdirtyrate-calc", domain: "vm1", seconds: 1.5 },
    { kind: "virsh-domdirtyrate-calc", domain: "vm1; destroy vm1", seconds: 1 },
    { kind: "virsh-domstats-dirtyrate", domain: "-x" },
    { kind: "ip-route-get", address: "evil.example" },
    { kind: "ip-route-get", address: "10.0.0.256" },
    { kind: "ip-route-get", address: "10.0.0.1 from 10.0.0.2" },
    { kind: "ip-route-get", address: "::1::2" },
    { kind: "read-nic-speed", iface: "../../etc" },
    { kind: "read-nic-speed", iface: "." },
    { kind: "read-nic-speed", iface: "a".repeat(16) },
    { kind: "read-nic-speed", iface: "eth0/../x" },
  ] as const)("refuses %o", (cmd) => {
    expect(() => renderCommand(cmd)).toThrow(CatalogueError);
  });
});
