/**
 * The keys that let a worker trust what it reads from Redis without trusting Redis.
 *
 * - The bot signs every job it enqueues (and so every approval, which reaches the workers as an
 *   `apply-proposal` job) with an Ed25519 private key only the bot holds. Workers hold the public
 *   key: they can check a job, not forge one.
 * - Workers seal every fix proposal they store with an HMAC key only workers hold. The bot never
 *   sees it, so neither a Redis writer nor a compromised bot can change what a proposal writes.
 *
 * Keys travel as one-line base64 strings (`migbot keys` prints a fresh set) and never appear in
 * errors, logs or Redis.
 */

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { CodedError } from "../errors";

/** An HMAC key shorter than SHA-256's output adds nothing to guess. */
export const WORKER_KEY_MIN_BYTES = 32;
/** Bytes of a freshly generated worker key. */
export const WORKER_KEY_BYTES = 32;

/** A key that is not in the form migbot expects; the message says how to make a good one. */
export class KeyFormatError extends CodedError<"KEY_INVALID"> {
  constructor(message: string) {
    // Not retryable: the key is wrong until someone replaces it.
    super("KEY_INVALID", message, { retryable: false });
  }
}

function base64Bytes(value: string, what: string): Buffer {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw new KeyFormatError(`${what} is not base64 (run \`npx migbot keys\` for a fresh one)`);
  }
  return Buffer.from(trimmed.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

/** The bot's Ed25519 private key from base64 PKCS#8 DER. */
export function parseBotSigningKey(value: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: base64Bytes(value, "the key"), format: "der", type: "pkcs8" });
  } catch (err) {
    if (err instanceof KeyFormatError) throw err;
    throw new KeyFormatError(
      "is not an Ed25519 private key in base64 PKCS#8 DER (run `npx migbot keys` for a fresh set)",
    );
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new KeyFormatError(`is a ${key.asymmetricKeyType} key; migbot signs with Ed25519`);
  }
  return key;
}

/** The bot's Ed25519 public key from base64 SPKI DER. */
export function parseBotVerifyKey(value: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: base64Bytes(value, "the key"), format: "der", type: "spki" });
  } catch (err) {
    if (err instanceof KeyFormatError) throw err;
    throw new KeyFormatError(
      "is not an Ed25519 public key in base64 SPKI DER (copy MIGBOT_BOT_VERIFY_KEY from `npx migbot keys`)",
    );
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new KeyFormatError(`is a ${key.asymmetricKeyType} key; migbot verifies Ed25519`);
  }
  return key;
}

/** The workers' HMAC key: base64 of at least {@link WORKER_KEY_MIN_BYTES} random bytes. */
export function parseWorkerKey(value: string): Buffer {
  const bytes = base64Bytes(value, "the key");
  if (bytes.length < WORKER_KEY_MIN_BYTES) {
    throw new KeyFormatError(
      `is ${bytes.length} bytes; it must be at least ${WORKER_KEY_MIN_BYTES} random bytes in base64`,
    );
  }
  return bytes;
}

/** The public half of the bot's signing key (for `--role all`, which holds both). */
export function verifyKeyOf(signingKey: KeyObject): KeyObject {
  return createPublicKey(signingKey);
}

export interface KeySet {
  MIGBOT_BOT_SIGNING_KEY: string;
  MIGBOT_BOT_VERIFY_KEY: string;
  MIGBOT_WORKER_KEY: string;
}

/** A fresh set of keys, as the environment variables that carry them. */
export function generateKeySet(): KeySet {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    MIGBOT_BOT_SIGNING_KEY: privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"),
    MIGBOT_BOT_VERIFY_KEY: publicKey.export({ format: "der", type: "spki" }).toString("base64"),
    MIGBOT_WORKER_KEY: randomBytes(WORKER_KEY_BYTES).toString("base64"),
  };
}
