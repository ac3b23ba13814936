/** How migbot connects to its Redis: the URL (password inside, `rediss://` for TLS) and a CA when asked. */
import { readFileSync } from "node:fs";
import type { RedisOptions } from "ioredis";
import { ConfigError } from "../config";

/** Extra ioredis options for a `rediss://` server signed by a private CA (REDIS_TLS_CA_FILE). */
export function redisTlsOptions(config: { redisUrl?: string; redisTlsCaFile?: string }): RedisOptions {
  if (config.redisTlsCaFile === undefined) return {};
  if (!config.redisUrl?.startsWith("rediss://")) {
    throw new ConfigError("REDIS_TLS_CA_FILE", "is set but REDIS_URL is not rediss://; TLS needs rediss://");
  }
  let ca: Buffer;
  try {
    ca = readFileSync(config.redisTlsCaFile);
  } catch (err) {
    throw new ConfigError(
      "REDIS_TLS_CA_FILE",
      `cannot read ${config.redisTlsCaFile} (${(err as NodeJS.ErrnoException).code ?? "error"}); give the PEM file of the CA that signed Redis's certificate`,
    );
  }
  return { tls: { ca } };
}
