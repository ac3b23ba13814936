import type { MigrationSample } from "./sample";

/**
 * nova-compute's live-migration log lines: the periodic progress line (a fallback source of samples
 * when domjobinfo cannot be read) and the lines that explain how a migration ended.
 */

// Mitaka..Stein (driver.py _live_migration_monitor):
//   "Migration running for %(secs)d secs, memory %(remaining)d%% remaining; (bytes processed=%(processed_memory)d,
//    remaining=%(remaining_memory)d, total=%(total_memory)d)"
// Train and later add the disk part, and the `;` moves behind the memory figures:
//   "... memory %(remaining)d%% remaining (bytes processed=..., remaining=..., total=...); disk %(disk_remaining)d%%
//    remaining (bytes processed=..., remaining=..., total=...)."
const PROGRESS_RE =
  /Migration running for (\d+(?:\.\d+)?) secs, memory (\d+)% remaining;? ?\(bytes processed=(\d+), remaining=(\d+), total=(\d+)\)(?:; disk (\d+)% remaining \(bytes processed=(\d+), remaining=(\d+), total=(\d+)\))?/;

/** Nova's periodic progress line → a sample (`t` = Nova's seconds since the start), or null. */
export function parseNovaProgressLine(line: string): MigrationSample | null {
  const m = PROGRESS_RE.exec(line);
  if (!m) return null;
  const sample: MigrationSample = {
    t: Number(m[1]),
    source: "nova-log",
    jobType: "unbounded",
    memoryProcessedBytes: Number(m[3]),
    memoryRemainingBytes: Number(m[4]),
    memoryTotalBytes: Number(m[5]),
  };
  if (m[6] !== undefined) {
    // libvirt's "data" is memory plus block-migrated disk; keep the same meaning here.
    sample.dataProcessedBytes = Number(m[3]) + Number(m[7]);
    sample.dataRemainingBytes = Number(m[4]) + Number(m[8]);
    sample.dataTotalBytes = Number(m[5]) + Number(m[9]);
  }
  return sample;
}

export type NovaLogEventKind =
  | "progress"
  | "low-watermark"
  | "stuck"
  | "completion-timeout"
  | "downtime-increase"
  | "postcopy-switch"
  | "abort-failed"
  | "completed"
  | "aborted"
  | "cancelled"
  | "failure"
  | "pre-check-error"
  | "pre-migration-failed"
  | "post-migration-failed"
  | "finished";

/** One notable nova-compute line about a live migration. */
export interface NovaLogEvent {
  kind: NovaLogEventKind;
  /** 1-based line number in the text given. */
  line: number;
  /** The log's own timestamp, as printed (`2024-07-11 22:10:59.946`), when the line has one. */
  timestamp?: string;
  level?: string;
  logger?: string;
  instanceUuid?: string;
  requestId?: string;
  /** The message after the oslo.log prefix. */
  message: string;
  /** Numbers and names the message carries. */
  seconds?: number;
  downtimeMs?: number;
  dataRemainingBytes?: number;
  watermarkBytes?: number;
  reason?: string;
  destination?: string;
}

/**
 * The message without the `: <exception type>: <message again>` oslo.log appends when Nova logs
 * inside an exception handler (real Zed: "Live Migration failure: operation aborted: job 'migration
 * out' canceled by client: libvirt.libvirtError: operation aborted: job 'migration out' canceled by
 * client").
 */
export function withoutRepeatedException(text: string): string {
  const m = /^([\s\S]*?): ([\w.]+(?:Error|Exception)): ([\s\S]*)$/.exec(text);
  return m && m[3]!.trim() === m[1]!.trim() ? m[1]! : text;
}

interface Rule {
  kind: NovaLogEventKind;
  re: RegExp;
  read?: (m: RegExpExecArray) => Partial<NovaLogEvent>;
}

// Format strings from openstack/nova (driver.py, migration.py, compute/manager.py, exception.py),
// matched case-insensitively because Nova's docs quote some of them in lower case.
const RULES: Rule[] = [
  { kind: "progress", re: PROGRESS_RE, read: (m) => ({ seconds: Number(m[1]) }) },
  {
    kind: "low-watermark",
    re: /Data remaining (\d+) bytes, low watermark (\d+) bytes (\d+) seconds ago/i,
    read: (m) => ({ dataRemainingBytes: Number(m[1]), watermarkBytes: Number(m[2]), seconds: Number(m[3]) }),
  },
  { kind: "stuck", re: /Live migration stuck for (\d+) sec/i, read: (m) => ({ seconds: Number(m[1]) }) },
  {
    kind: "completion-timeout",
    re: /Live migration not completed after (\d+) sec/i,
    read: (m) => ({ seconds: Number(m[1]) }),
  },
  {
    kind: "downtime-increase",
    re: /Increasing downtime to (\d+) ms after (\d+) sec elapsed time/i,
    read: (m) => ({ downtimeMs: Number(m[1]), seconds: Number(m[2]) }),
  },
  { kind: "postcopy-switch", re: /Switching to post-copy migration mode/i },
  {
    kind: "abort-failed",
    re: /Failed to abort migration ?([\s\S]*)/i,
    read: (m) => ({ reason: m[1] || undefined }),
  },
  { kind: "completed", re: /Migration operation has completed/i },
  { kind: "aborted", re: /Migration operation has aborted/i },
  { kind: "cancelled", re: /Migration operation was cancelled/i },
  {
    kind: "failure",
    re: /Live Migration failure: ([\s\S]*)/i,
    read: (m) => ({ reason: withoutRepeatedException(m[1]!) }),
  },
  { kind: "pre-check-error", re: /Migration pre-check error: ([\s\S]*)/i, read: (m) => ({ reason: m[1] }) },
  {
    kind: "pre-migration-failed",
    re: /Pre live migration failed at (\S+)/i,
    read: (m) => ({ destination: m[1] }),
  },
  {
    kind: "post-migration-failed",
    re: /Post live migration at destination (\S+) failed:? ?([\s\S]*)/i,
    read: (m) => ({ destination: m[1], reason: m[2] || undefined }),
  },
  {
    kind: "finished",
    re: /Migrating instance to (\S+) finished successfully/i,
    read: (m) => ({ destination: m[1] }),
  },
];

/**
 * Longest log line read, in characters; the rest of a longer line is ignored. Nova's live-migration
 * lines are a few hundred characters (a libvirt error included); 64 KiB keeps any real line whole
 * while bounding the work a hostile host can cause with one enormous line.
 */
export const MAX_NOVA_LOG_LINE_CHARS = 64 * 1024;

// oslo.log's default context format: "<date> <pid> <LEVEL> <logger> [<request context>] [instance: <uuid>] <msg>",
// possibly behind a syslog/journald prefix. The date and pid are optional so that excerpts quoted in
// Nova's own docs ("WARNING nova.virt.libvirt.migration [req-...] [instance: ...]") still parse.
// The header is found in pieces, not with one regex: `\[([^\]]*)\]` retried from every
// "INFO nova [" of a line without "]" was quadratic (a crafted 440 KB line took seconds). Each
// piece below runs once per line, and none can backtrack over more than the run it just read.
const LEVEL_RE = /\b(DEBUG|INFO|AUDIT|WARNING|WARN|ERROR|CRITICAL|TRACE)\s+(nova[\w.]*)\s+\[/;
// The timestamp right before the level (and pid), looked for in a window this wide only.
const TIMESTAMP_WINDOW_CHARS = 48;
const TIMESTAMP_END_RE = /(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?)$/;
const INSTANCE_PREFIX = "[instance: ";
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REQUEST_ID_RE = /\breq-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/i;
// Terminal colour codes that journald/syslog leave at the end of nova lines (`#033[00m`, ESC[00m).
const ANSI_TAIL_RE = /(?:#033|\x1b)\[[0-9;]*m/g;

interface OsloHeader {
  timestamp?: string;
  level: string;
  logger: string;
  context: string;
  instance?: string;
  message: string;
}

function isBlank(c: string | undefined): boolean {
  return c !== undefined && /\s/.test(c);
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

/** The oslo.log timestamp that ends, after blanks and an optional pid, right before `levelAt`. */
function timestampBefore(line: string, levelAt: number): string | undefined {
  const dateEndingAt = (end: number) =>
    TIMESTAMP_END_RE.exec(line.slice(Math.max(0, end - TIMESTAMP_WINDOW_CHARS), end))?.[1];
  let end = levelAt;
  while (isBlank(line[end - 1])) end--;
  if (end === levelAt) return undefined;
  const withoutPid = dateEndingAt(end);
  if (withoutPid !== undefined) return withoutPid;
  let pidStart = end;
  while (isDigit(line[pidStart - 1])) pidStart--;
  if (pidStart === end) return undefined;
  let dateEnd = pidStart;
  while (isBlank(line[dateEnd - 1])) dateEnd--;
  return dateEnd === pidStart ? undefined : dateEndingAt(dateEnd);
}

/** The oslo.log prefix of one line (in linear time), or undefined when the line has none. */
function osloHeader(line: string): OsloHeader | undefined {
  const head = LEVEL_RE.exec(line);
  if (!head) return undefined;
  const contextStart = head.index + head[0].length;
  // The first level+logger decides: when no "]" follows it, none follows any later one either.
  const contextEnd = line.indexOf("]", contextStart);
  if (contextEnd < 0) return undefined;
  let rest = line.slice(contextEnd + 1).trimStart();
  let instance: string | undefined;
  if (rest.startsWith(INSTANCE_PREFIX)) {
    const close = rest.indexOf("]", INSTANCE_PREFIX.length);
    if (close >= 0) {
      instance = rest.slice(INSTANCE_PREFIX.length, close);
      rest = rest.slice(close + 1);
    }
  }
  const timestamp = timestampBefore(line, head.index);
  return {
    ...(timestamp !== undefined ? { timestamp } : {}),
    level: head[1]!,
    logger: head[2]!,
    context: line.slice(contextStart, contextEnd),
    ...(instance !== undefined ? { instance } : {}),
    message: rest.trim(),
  };
}

export interface NovaComputeLog {
  /** Progress samples, in log order (only those of `instanceUuid` when one was given). */
  samples: MigrationSample[];
  /** Every notable live-migration line, progress lines included. */
  events: NovaLogEvent[];
}

/**
 * A nova-compute log (or an excerpt, a grep, a sosreport `messages` file) → progress samples and
 * notable live-migration lines with their timestamps, instance uuid and request id. Pass
 * `instanceUuid` when the log holds more than one migration, else samples of all are mixed.
 */
export function parseNovaComputeLog(text: string, opts: { instanceUuid?: string } = {}): NovaComputeLog {
  const samples: MigrationSample[] = [];
  const events: NovaLogEvent[] = [];
  const lines = text.split(/\r?\n/).map((l) => l.slice(0, MAX_NOVA_LOG_LINE_CHARS));
  for (const [i, raw] of lines.entries()) {
    const head = osloHeader(raw.replace(ANSI_TAIL_RE, ""));
    if (!head) continue;
    let message = head.message;
    // Nova's docs wrap the message onto the next line; take it when the header line has none.
    if (message === "") message = (lines[i + 1] ?? "").trim();
    const instance = head.instance?.trim();
    const requestId = REQUEST_ID_RE.exec(head.context)?.[0];
    for (const rule of RULES) {
      const m = rule.re.exec(message);
      if (!m) continue;
      const event: NovaLogEvent = {
        kind: rule.kind,
        line: i + 1,
        message,
        ...(head.timestamp !== undefined ? { timestamp: head.timestamp } : {}),
        level: head.level,
        logger: head.logger,
        ...(instance !== undefined && UUID_RE.test(instance) ? { instanceUuid: instance.toLowerCase() } : {}),
        ...(requestId !== undefined ? { requestId } : {}),
        ...(rule.read ? stripUndefined(rule.read(m)) : {}),
      };
      events.push(event);
      if (rule.kind === "progress") {
        const sample = parseNovaProgressLine(message);
        const wanted =
          opts.instanceUuid === undefined || event.instanceUuid === opts.instanceUuid.toLowerCase();
        if (sample && wanted) samples.push(sample);
      }
      break;
    }
  }
  return { samples, events };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
