import { describe, expect, test } from "vitest";
import { CatalogueError, renderCommand } from "../../src/hosts/catalogue";
import { asHostError, HostErrorCode } from "../../src/hosts/errors";
import {
  knownHostFingerprints,
  normalizeFingerprint,
  parseKnownHosts,
  publicLineBlob,
  sshFingerprint,
} from "../../src/hosts/known-hosts";
import { generateKeyPair } from "../../src/sandbox/ssh-server";

describe("known_hosts parsing", () => {
  const a = generateKeyPair("a");
  const b = generateKeyPair("b");
  const c = generateKeyPair("c");
  const [aType, aData] = a.publicLine.split(" ");
  const [bType, bData] = b.publicLine.split(" ");
  const [cType, cData] = c.publicLine.split(" ");
  const file = parseKnownHosts(
    [
      "# comment line",
      "",
      `compute-1,10.0.0.11 ${aType} ${aData}`,
      `[10.0.0.12]:2222 ${bType} ${bData} with a comment`,
      `10.0.0.* ${cType} ${cData}`,
      `@revoked * ${bType} ${bData}`,
      `@cert-authority *.example.org ${aType} ${aData}`,
      `|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ${aType} ${aData}`,
      "garbage",
      `compute-9 ssh-ed25519 AAAAnotbase64!`,
    ].join("\n"),
  );

  test("keeps plain, bracketed-port and wildcard entries with OpenSSH fingerprints", () => {
    expect(file.entries.filter((e) => !e.revoked).map((e) => e.fingerprint)).toEqual([
      a.fingerprint,
      b.fingerprint,
      c.fingerprint,
    ]);
    expect(file.skipped).toHaveLength(4);
    expect(file.skipped.join("\n")).toMatch(/line 8: hashed host name skipped/);
    expect(file.skipped.join("\n")).toMatch(/line 7: @cert-authority entries are not supported/);
  });

  test("matches a host by address or inventory name, port-aware, and reports revocations", () => {
    expect(knownHostFingerprints(file, ["10.0.0.11", "compute-1"], 22).allowed).toEqual([
      a.fingerprint,
      c.fingerprint,
    ]);
    // On a non-default port only the [host]:port form matches.
    expect(knownHostFingerprints(file, ["10.0.0.11"], 2222).allowed).toEqual([]);
    const onPort = knownHostFingerprints(file, ["10.0.0.12"], 2222);
    expect(onPort.allowed).toEqual([b.fingerprint]);
    expect(onPort.revoked).toEqual([b.fingerprint]);
  });

  test("fingerprints follow ssh-keygen's form and tolerate padding when pinned by hand", () => {
    const blob = publicLineBlob(a.publicLine)!;
    expect(sshFingerprint(blob)).toBe(a.fingerprint);
    expect(a.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(normalizeFingerprint(`${a.fingerprint}=`)).toBe(a.fingerprint);
    expect(publicLineBlob(`ssh-rsa ${aData}`)).toBeNull();
  });
});

describe("catalogue paths for migbot's temp files", () => {
  test("a dot-named temp file beside nova.conf is accepted; '.' and '..' segments are not", () => {
    const rendered = renderCommand(
      { kind: "write-file", path: "/etc/nova/.nova.conf.migbot-tmp-1a2b", content: "x" },
      { sudo: true },
    );
    expect(rendered.line).toBe(
      "sudo -n -- dd status=none conv=nocreat,fsync oflag=nofollow of=/etc/nova/.nova.conf.migbot-tmp-1a2b",
    );
    expect(() => renderCommand({ kind: "read-file", path: "/etc/nova/./nova.conf" })).toThrow(CatalogueError);
    expect(() => renderCommand({ kind: "read-file", path: "/etc/nova/../shadow" })).toThrow(CatalogueError);
    expect(() => renderCommand({ kind: "read-file", path: "/etc/-rf" })).toThrow(CatalogueError);
  });

  test("asHostError keeps the catalogue's reason under HOST_BAD_ARGUMENT", () => {
    let caught: unknown;
    try {
      renderCommand({ kind: "virsh-domjobinfo", domain: "x; rm -rf /" });
    } catch (err) {
      caught = err;
    }
    const err = asHostError(caught, "compute-2");
    expect(err.code).toBe(HostErrorCode.HostBadArgument);
    expect(err.message).toContain("'x; rm -rf /' is not a valid libvirt domain name");
    expect(err.retryable).toBe(false);
  });
});
