/**
 * Host key identity: SHA256 fingerprints in OpenSSH's form and a reader for OpenSSH known_hosts
 * files, so the executor can pin keys either way an operator already keeps them.
 */
import { createHash } from "node:crypto";

/** `SHA256:<base64 without padding>` of an SSH public key blob, exactly as `ssh-keygen -lf` prints it. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The key blob of an OpenSSH one-line public key (`ssh-ed25519 AAAA… comment`), or null. */
export function publicLineBlob(line: string): Buffer | null {
  const [type, data] = line.trim().split(/\s+/);
  if (!type || !data || !/^[A-Za-z0-9+/]+=*$/.test(data)) return null;
  const blob = Buffer.from(data, "base64");
  // The blob starts with its own key type as an SSH string; a mismatch means a garbled line.
  if (blob.length < 4) return null;
  const typeLength = blob.readUInt32BE(0);
  if (blob.subarray(4, 4 + typeLength).toString("latin1") !== type) return null;
  return blob;
}

/** Normalises a pinned fingerprint: accepts `SHA256:x`, and tolerates trailing `=` padding. */
export function normalizeFingerprint(fingerprint: string): string {
  const trimmed = fingerprint.trim();
  const body = trimmed.startsWith("SHA256:") ? trimmed.slice(7) : trimmed;
  return `SHA256:${body.replace(/=+$/, "")}`;
}

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  /** Host patterns as written, e.g. `compute-3`, `10.0.0.5`, `[10.0.0.5]:2222`. */
  hosts: string[];
  keyType: string;
  fingerprint: string;
  /** `@revoked` lines: this key must be refused even if another line pins it. */
  revoked: boolean;
}

/** What {@link parseKnownHosts} kept, and what it had to leave out and why. */
export interface KnownHostsFile {
  entries: KnownHostEntry[];
  /** Human-readable notes about skipped lines (hashed names, `@cert-authority`, garbage). */
  skipped: string[];
}

/**
 * Parses OpenSSH known_hosts text. Hashed host names (`|1|salt|hash`, from `HashKnownHosts yes`)
 * are skipped with a note: matching them needs the HMAC of every candidate name, and migbot's
 * inventory already names each host, so an operator can pin its fingerprint there instead.
 */
export function parseKnownHosts(text: string): KnownHostsFile {
  const entries: KnownHostEntry[] = [];
  const skipped: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    let fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0]?.startsWith("@")) {
      if (fields[0] === "@revoked") {
        revoked = true;
        fields = fields.slice(1);
      } else {
        skipped.push(`line ${index + 1}: ${fields[0]} entries are not supported`);
        continue;
      }
    }
    const [hostField, keyType, keyData] = fields;
    if (!hostField || !keyType || !keyData) {
      skipped.push(`line ${index + 1}: not a known_hosts entry`);
      continue;
    }
    if (hostField.startsWith("|")) {
      skipped.push(`line ${index + 1}: hashed host name skipped (pin its fingerprint in the inventory)`);
      continue;
    }
    const blob = publicLineBlob(`${keyType} ${keyData}`);
    if (blob === null) {
      skipped.push(`line ${index + 1}: unreadable ${keyType} key`);
      continue;
    }
    entries.push({ hosts: hostField.split(","), keyType, fingerprint: sshFingerprint(blob), revoked });
  }
  return { entries, skipped };
}

/** How OpenSSH names a host in known_hosts: bare on port 22, `[address]:port` otherwise. */
export function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

function patternMatches(pattern: string, name: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern.toLowerCase() === name.toLowerCase();
  const re = new RegExp(
    `^${pattern
      .split("")
      .map((ch) => (ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
      .join("")}$`,
    "i",
  );
  return re.test(name);
}

/**
 * The fingerprints known_hosts pins for a host reached at `address:port` (and, for convenience,
 * under its inventory `name`), plus those it revokes. Negated patterns (`!host`) exclude a line.
 */
export function knownHostFingerprints(
  file: KnownHostsFile,
  names: string[],
  port: number,
): { allowed: string[]; revoked: string[] } {
  const candidates = names.map((name) => knownHostsName(name, port));
  const allowed: string[] = [];
  const revoked: string[] = [];
  for (const entry of file.entries) {
    const negated = entry.hosts.some(
      (p) => p.startsWith("!") && candidates.some((c) => patternMatches(p.slice(1), c)),
    );
    if (negated) continue;
    const hit = entry.hosts.some((p) => !p.startsWith("!") && candidates.some((c) => patternMatches(p, c)));
    if (!hit) continue;
    (entry.revoked ? revoked : allowed).push(entry.fingerprint);
  }
  return { allowed, revoked };
}
