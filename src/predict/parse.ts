/**
 * Parsers for what the prediction reads on a host: `virsh domstats --dirtyrate`, `virsh version`,
 * `ip -o route get <address>` and `/sys/class/net/<if>/speed`. Each takes the raw stdout and returns
 * typed values, or null / a reason when the text is not what the tool prints.
 */
import {
  DIRTYRATE_CALC_MODES,
  DIRTYRATE_STATUS,
  type DirtyRateCalcMode,
  type DirtyRateStatus,
  DOMSTATS_DIRTYRATE_FIELDS,
  type LibvirtVersion,
} from "../nova-facts/libvirt-dirtyrate";

/** One domain's `domstats --dirtyrate` record. */
export interface DirtyRateStats {
  domain: string;
  status: DirtyRateStatus;
  /** QEMU's clock at the start of the last calculation, seconds (0 before any). */
  startTime: number;
  periodS: number;
  /** libvirt 8.1.0+ only. */
  mode: DirtyRateCalcMode | null;
  /** MiB/s; present once measured. */
  mibPerS: number | null;
}

const STATUS_BY_NUMBER = new Map<number, DirtyRateStatus>(
  Object.entries(DIRTYRATE_STATUS).map(([k, v]) => [v, k as DirtyRateStatus]),
);

/**
 * Parses `virsh domstats --dirtyrate <dom>` (libvirt 7.2+): `Domain: '<name>'` then `  key=value`
 * lines. Returns null when no record with a known `calc_status` is there.
 */
export function parseDomstatsDirtyRate(text: string): DirtyRateStats | null {
  let domain: string | null = null;
  const fields = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    const head = /^Domain: '(.*)'$/.exec(line);
    if (head) {
      if (domain !== null) break; // one domain asked: the first record is it
      domain = head[1]!;
      continue;
    }
    const kv = /^\s+([a-z0-9_.]+)=(.*)$/.exec(line);
    if (kv && domain !== null) fields.set(kv[1]!, kv[2]!);
  }
  if (domain === null) return null;
  const num = (key: string): number | null => {
    const v = fields.get(key);
    if (v === undefined || !/^-?\d+(\.\d+)?$/.test(v)) return null;
    return Number(v);
  };
  const statusNumber = num(DOMSTATS_DIRTYRATE_FIELDS.status);
  const status = statusNumber === null ? undefined : STATUS_BY_NUMBER.get(statusNumber);
  if (status === undefined) return null;
  const modeText = fields.get(DOMSTATS_DIRTYRATE_FIELDS.mode);
  const mode = (DIRTYRATE_CALC_MODES as readonly string[]).includes(modeText ?? "")
    ? (modeText as DirtyRateCalcMode)
    : null;
  return {
    domain,
    status,
    startTime: num(DOMSTATS_DIRTYRATE_FIELDS.startTime) ?? 0,
    periodS: num(DOMSTATS_DIRTYRATE_FIELDS.period) ?? 0,
    mode,
    mibPerS: num(DOMSTATS_DIRTYRATE_FIELDS.rate),
  };
}

/** The library version of `virsh version` ("Using library: libvirt 9.0.0"); null when absent. */
export function parseLibvirtVersion(text: string): LibvirtVersion | null {
  const m = /^Using library: libvirt (\d+)\.(\d+)\.(\d+)\s*$/m.exec(text);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3]) };
}

/** The outgoing interface of `ip -o route get <address>` (`… dev eth0 src …`); null when none. */
export function parseRouteDevice(text: string): string | null {
  const m = /\bdev ([A-Za-z0-9_.:@-]{1,15})(?:\s|$)/.exec(text);
  if (!m) return null;
  // `lo` (a local address) carries no migration traffic at a NIC's speed.
  return m[1]!.split("@")[0]!;
}

/**
 * `/sys/class/net/<if>/speed`: Mbit/s as the driver reports it. Virtual and down links print -1
 * (or the read fails with EINVAL): null then, the speed is unknown.
 */
export function parseNicSpeedMbps(text: string): number | null {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) return null;
  const n = Number(t);
  return n > 0 ? n : null;
}
