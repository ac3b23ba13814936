/**
 * Reads the host inventory: a YAML file `{ hosts: [ { name, address, port, user, sudo,
 * privateKeyPath, hostKeyFingerprints, release, novaConfPaths, novaComputeLogPath } ] }`.
 * A bad entry fails at start with a message naming the entry and the field.
 */

import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { CodedError } from "../errors";
import { checkPath } from "./catalogue";
import type { HostEntry } from "./inventory";

/** The inventory file is not valid; the message names the entry and what to fix. */
export class InventoryError extends CodedError<"INVENTORY_INVALID"> {
  constructor(message: string) {
    // Not retryable: the file has to be corrected.
    super("INVENTORY_INVALID", message, { retryable: false });
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const FINGERPRINT_RE = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** Parses inventory YAML text; `source` names the file in errors. */
export function parseInventory(text: string, source = "inventory"): HostEntry[] {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new InventoryError(`${source}: not valid YAML (${(err as Error).message.split("\n")[0]})`);
  }
  const hosts = (doc as { hosts?: unknown })?.hosts;
  if (!Array.isArray(hosts) || hosts.length === 0) {
    throw new InventoryError(`${source}: expected a 'hosts:' list with at least one host`);
  }
  const seen = new Set<string>();
  return hosts.map((raw, i) => {
    const h = raw as Record<string, unknown>;
    const where = `${source}: hosts[${i}]${typeof h?.name === "string" ? ` (${h.name})` : ""}`;
    const bad = (field: string, why: string) => new InventoryError(`${where}.${field}: ${why}`);
    if (typeof h?.name !== "string" || !NAME_RE.test(h.name))
      throw bad("name", "must be the host's Nova name");
    if (seen.has(h.name)) throw bad("name", "appears twice");
    seen.add(h.name);
    if (typeof h.address !== "string" || h.address.length === 0) throw bad("address", "is required");
    if (
      h.port !== undefined &&
      (!Number.isInteger(h.port) || (h.port as number) < 1 || (h.port as number) > 65535)
    ) {
      throw bad("port", "must be 1..65535");
    }
    if (h.user !== undefined && (typeof h.user !== "string" || !/^[a-z_][a-z0-9_-]{0,31}$/.test(h.user))) {
      throw bad("user", "must be a plain user name");
    }
    if (h.sudo !== undefined && typeof h.sudo !== "boolean") throw bad("sudo", "must be true or false");
    if (h.privateKeyPath !== undefined && typeof h.privateKeyPath !== "string")
      throw bad("privateKeyPath", "must be a path");
    const fps = h.hostKeyFingerprints;
    if (
      fps !== undefined &&
      (!Array.isArray(fps) || fps.some((f) => typeof f !== "string" || !FINGERPRINT_RE.test(f)))
    ) {
      throw bad(
        "hostKeyFingerprints",
        "must be a list of SHA256:… fingerprints as ssh-keygen -lf prints them",
      );
    }
    const paths = h.novaConfPaths;
    if (paths !== undefined) {
      if (!Array.isArray(paths) || paths.length === 0) throw bad("novaConfPaths", "must be a non-empty list");
      for (const p of paths) {
        try {
          checkPath(String(p));
        } catch (err) {
          throw bad("novaConfPaths", (err as Error).message);
        }
      }
    }
    if (h.novaComputeLogPath !== undefined) {
      try {
        checkPath(String(h.novaComputeLogPath));
      } catch (err) {
        throw bad("novaComputeLogPath", (err as Error).message);
      }
    }
    return h as unknown as HostEntry;
  });
}

/** Reads and parses an inventory file. */
export function loadInventory(path: string): HostEntry[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new InventoryError(
      `cannot read the inventory ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  return parseInventory(text, path);
}
