/**
 * Reading what libvirt says about CPUs: the host CPU inside `virsh capabilities`, the verdict of
 * `virsh cpu-compare --error`, and the model `virsh cpu-baseline` settles on. Wording and exit
 * statuses follow the captured outputs in fixtures/libvirt/virsh-outputs/.
 */

/** The `<cpu>` element of `<host>` in `virsh capabilities`, or null when there is none. */
export function hostCpuXml(capabilities: string): string | null {
  const host = /<host>([\s\S]*?)<\/host>/.exec(capabilities);
  if (!host) return null;
  const cpu = /<cpu\b[^>]*>[\s\S]*?<\/cpu>/.exec(host[1]!);
  return cpu ? cpu[0] : null;
}

/** The `<model>` of a `<cpu>` element (host CPU or baseline), or null. */
export function cpuModelOf(cpuXml: string): string | null {
  const m = /<model\b[^>]*>\s*([^<\s]+)\s*<\/model>/.exec(cpuXml);
  return m ? m[1]! : null;
}

/** Feature names of a `<cpu>` element, in document order (policy `disable`/`forbid` left out). */
export function cpuFeaturesOf(cpuXml: string): string[] {
  const out: string[] = [];
  for (const m of cpuXml.matchAll(/<feature\b([^>]*)\/?>/g)) {
    const attrs = m[1]!;
    const name = /\bname\s*=\s*['"]([^'"]+)['"]/.exec(attrs)?.[1];
    const policy = /\bpolicy\s*=\s*['"]([^'"]+)['"]/.exec(attrs)?.[1];
    if (name && policy !== "disable" && policy !== "forbid") out.push(name);
  }
  return out;
}

/** Total memory (MiB, summed over NUMA cells) and logical CPUs of the host, from `virsh capabilities`. */
export function hostSizeOf(capabilities: string): { memoryMb: number; cpus: number } | null {
  const topology = /<topology>([\s\S]*?)<\/topology>/.exec(capabilities);
  if (!topology) return null;
  let kib = 0;
  for (const m of topology[1]!.matchAll(/<memory unit=['"]KiB['"]>(\d+)<\/memory>/g)) kib += Number(m[1]);
  let cpus = 0;
  for (const m of topology[1]!.matchAll(/<cpus num=['"](\d+)['"]/g)) cpus += Number(m[1]);
  if (kib === 0 || cpus === 0) return null;
  return { memoryMb: Math.floor(kib / 1024), cpus };
}

/** A guest CPU of one named model, as nova writes it for `cpu_mode = custom`. */
export function customModelXml(model: string): string {
  return `<cpu mode='custom' match='exact'>\n  <model fallback='forbid'>${model}</model>\n</cpu>\n`;
}

export type CpuCompareResult = "identical" | "superset" | "incompatible" | "error";

export interface CpuCompareVerdict {
  result: CpuCompareResult;
  /** libvirt's own words, `error: ` prefixes and blank lines removed. */
  text: string;
}

/**
 * The verdict of `virsh cpu-compare --error`: exit 0 with "identical"/"superset" on stdout, or
 * exit 1 with "the CPU is incompatible with host CPU: …" on stderr. Anything else (a parse
 * error, an unknown model) is an `error`, not an incompatibility.
 */
export function readCpuCompare(out: { stdout: string; stderr: string; exitCode: number }): CpuCompareVerdict {
  const clean = (s: string) =>
    s
      .split(/\r?\n/)
      .map((l) => l.trim().replace(/^error:\s*/, ""))
      .filter((l) => l !== "");
  if (out.exitCode === 0) {
    const text = clean(out.stdout).join(" ");
    if (/\bidentical to host CPU\b/.test(text)) return { result: "identical", text };
    if (/\bHost CPU is a superset of\b/.test(text)) return { result: "superset", text };
    return { result: "error", text: text || "virsh cpu-compare printed nothing" };
  }
  const lines = clean(out.stderr);
  const incompatible = lines.find((l) => /incompatible with host CPU/.test(l));
  if (incompatible) return { result: "incompatible", text: incompatible };
  // `--error` makes an incompatibility an error; without it virsh says so on stdout.
  const plain = clean(out.stdout).find((l) => /is incompatible with host CPU/.test(l));
  if (plain) return { result: "incompatible", text: plain };
  return {
    result: "error",
    text:
      lines.filter((l) => !/^Failed to compare host CPU/.test(l)).join(" ") || `exit status ${out.exitCode}`,
  };
}

/** The features a `Host CPU does not provide required features: a, b, c` message names. */
export function missingFeatures(text: string): string[] {
  const m = /does not provide required features:\s*(.+)$/.exec(text);
  return m
    ? m[1]!
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
    : [];
}
