/**
 * Structured logs: one JSON object a line on stderr. Values under keys that look like secrets, and
 * strings that look like Slack tokens or private keys, are redacted before anything is written.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY_RE = /(token|secret|password|passphrase|private_?key|authorization|cookie)/i;
const SECRET_VALUE_RE =
  /(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)|gAAAA[A-Za-z0-9_-]{20,})/g;

/** Replaces secret-looking substrings of a string with `[redacted]`. */
export function redactText(text: string): string {
  return text.replace(SECRET_VALUE_RE, "[redacted]");
}

/** Deep-copies a value with secrets redacted (by key name and by value shape). */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return "[deep]";
  if (typeof value === "string") return redactText(value);
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: redactText(value.message) };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY_RE.test(k) ? "[redacted]" : redact(v, depth + 1);
    }
    return out;
  }
  return value;
}

/**
 * A logger writing JSON lines to stderr (or to `sink`, for tests and the console chat), dropping
 * lines below `level` (the config's MIGBOT_LOG_LEVEL).
 */
export function createLogger(
  name: string,
  base: Record<string, unknown> = {},
  sink: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  level: LogLevel = "info",
): Logger {
  const min = LEVELS[level] ?? LEVELS.info;
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < min) return;
    const entry = redact({ time: new Date().toISOString(), level, name, msg: msg, ...base, ...fields });
    sink(JSON.stringify(entry));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger(name, { ...base, ...fields }, sink, level),
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
