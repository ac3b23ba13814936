/** Reading `virsh domjobinfo` output: the lab test and status need the iteration, remaining data and throttle. */

export interface DomJobInfo {
  /** `Job type`: Unbounded while a migration runs, None when no job, Completed with `--completed`. */
  jobType: string;
  iteration?: number;
  dataRemainingBytes?: number;
  /** `Auto converge throttle` in percent; absent until QEMU first throttles. */
  autoConvergeThrottlePercent?: number;
  timeElapsedMs?: number;
  /** Every `Key: value` line as printed (value with its unit). */
  fields: Record<string, string>;
}

const UNIT_BYTES: Record<string, number> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

function bytes(value: string | undefined): number | undefined {
  const match = /^([\d.]+)\s*(B|KiB|MiB|GiB|TiB)$/.exec(value ?? "");
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return Math.round(Number(match[1]) * (UNIT_BYTES[match[2]] ?? 1));
}

function integer(value: string | undefined): number | undefined {
  const match = /^(\d+)/.exec(value ?? "");
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Parses one `virsh domjobinfo` output. */
export function parseDomJobInfo(text: string): DomJobInfo {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z][A-Za-z /()-]*?):\s+(.*?)\s*$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) fields[match[1]] = match[2].replace(/\s+/g, " ");
  }
  return {
    jobType: fields["Job type"] ?? "None",
    iteration: integer(fields.Iteration),
    dataRemainingBytes: bytes(fields["Data remaining"]),
    autoConvergeThrottlePercent: integer(fields["Auto converge throttle"]),
    timeElapsedMs: integer(fields["Time elapsed"]),
    fields,
  };
}
