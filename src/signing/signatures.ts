/**
 * Signatures over what crosses Redis: the bot's Ed25519 signature on jobs, the workers' HMAC seal
 * on fix plans. Both cover a canonical JSON encoding, so a field moved or re-encoded by whoever
 * stores the value does not break them, and any field changed does.
 */
import { createHash, createHmac, type KeyObject, sign, timingSafeEqual, verify } from "node:crypto";

/** JSON with object keys sorted at every level and no whitespace: the bytes that get signed. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw new TypeError("canonicalJson: non-finite number");
    }
    return JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** SHA-256 of a string's UTF-8 bytes, hex. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** What a job signature covers: the queue, the job id (the idempotency key) and the payload. */
function jobBytes(domain: string, queue: string, jobId: string, payload: unknown): Buffer {
  return Buffer.from(canonicalJson({ domain, queue, jobId, payload }), "utf8");
}

/** Signs jobs: the bot's side. */
export class JobSigner {
  constructor(
    private readonly key: KeyObject,
    private readonly domain: string,
  ) {}

  sign(queue: string, jobId: string, payload: unknown): string {
    return sign(null, jobBytes(this.domain, queue, jobId, payload), this.key).toString("base64");
  }
}

/** Checks job signatures: the workers' side, with the bot's public key. */
export class JobVerifier {
  constructor(
    private readonly key: KeyObject,
    private readonly domain: string,
  ) {}

  verify(queue: string, jobId: string, payload: unknown, signature: unknown): boolean {
    if (typeof signature !== "string" || !/^[A-Za-z0-9+/]{86}==$/.test(signature)) return false;
    try {
      return verify(
        null,
        jobBytes(this.domain, queue, jobId, payload),
        this.key,
        Buffer.from(signature, "base64"),
      );
    } catch {
      return false;
    }
  }
}

/** Seals and checks fix plans with the workers' HMAC key. */
export class PlanSealer {
  constructor(
    private readonly key: Buffer,
    private readonly domain: string,
  ) {}

  seal(planJson: string): string {
    return createHmac("sha256", this.key).update(`${this.domain}\n${planJson}`, "utf8").digest("hex");
  }

  check(planJson: string, seal: unknown): boolean {
    if (typeof seal !== "string" || !/^[0-9a-f]{64}$/.test(seal)) return false;
    return timingSafeEqual(Buffer.from(this.seal(planJson), "hex"), Buffer.from(seal, "hex"));
  }
}
