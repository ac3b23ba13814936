/**
 * Reading what libvirt says about CPUs: the host CPU inside `virsh capabilities`, the host-model CPU
 * inside `virsh domcapabilities`, the verdict of `virsh cpu-compare --error` and `virsh
 * hypervisor-cpu-compare --error`, and the model `virsh cpu-baseline` / `hypervisor-cpu-baseline`
 * settles on. Wording and exit statuses follow the captured outputs in
 * fixtures/libvirt/virsh-outputs/ and src/sandbox/data/libvirt/ (libvirt 9.0).
 */

// Elements are found with indexOf, not lazy regexes: `<host>([\s\S]*?)<\/host>` and the like were
// retried from every opening tag of a document without the closing one, which was quadratic on a
// hostile `virsh capabilities` (120 KB of "<host>" took seconds).

/** The text between the first `open` and the first `close` after it, or null. */
function between(text: string, open: string, close: string): string | null {
  const start = text.indexOf(open);
  if (start < 0) return null;
  const end = text.indexOf(close, start + open.length);
  return end < 0 ? null : text.slice(start + open.length, end);
}

/** Start of the first `<name` that is a whole tag name (`<cpu`, not `<cpus`) at or after `from`, or -1. */
function tagStart(text: string, name: string, from: number): number {
  for (let i = text.indexOf(`<${name}`, from); i >= 0; i = text.indexOf(`<${name}`, i + 1)) {
    if (!/\w/.test(text[i + name.length + 1] ?? "")) return i;
  }
  return -1;
}

/** The `<cpu>` element of `<host>` in `virsh capabilities`, or null when there is none. */
export function hostCpuXml(capabilities: string): string | null {
  const host = between(capabilities, "<host>", "</host>");
  if (host === null) return null;
  const start = tagStart(host, "cpu", 0);
  if (start < 0) return null;
  const gt = host.indexOf(">", start);
  const end = gt < 0 ? -1 : host.indexOf("</cpu>", gt + 1);
  return end < 0 ? null : host.slice(start, end + "</cpu>".length);
}

const MODEL_TEXT_RE = /\s*([^<\s]+)\s*<\/model>/y;

/** The `<model>` of a `<cpu>` element (host CPU or baseline), or null. */
export function cpuModelOf(cpuXml: string): string | null {
  for (let start = tagStart(cpuXml, "model", 0); start >= 0; ) {
    const gt = cpuXml.indexOf(">", start);
    if (gt < 0) return null;
    MODEL_TEXT_RE.lastIndex = gt + 1;
    const m = MODEL_TEXT_RE.exec(cpuXml);
    if (m) return m[1]!;
    // Every `<model` before this `>` ends at the same `>`, and so fails the same way.
    start = tagStart(cpuXml, "model", gt + 1);
  }
  return null;
}

/** Feature names of a `<cpu>` element, in document order (policy `disable`/`forbid` left out). */
export function cpuFeaturesOf(cpuXml: string): string[] {
  const out: string[] = [];
  for (let start = tagStart(cpuXml, "feature", 0); start >= 0; ) {
    const gt = cpuXml.indexOf(">", start);
    if (gt < 0) break;
    const attrs = cpuXml.slice(start + "<feature".length, gt);
    const name = /\bname\s*=\s*['"]([^'"]+)['"]/.exec(attrs)?.[1];
    const policy = /\bpolicy\s*=\s*['"]([^'"]+)['"]/.exec(attrs)?.[1];
    if (name && policy !== "disable" && policy !== "forbid") out.push(name);
    start = tagStart(cpuXml, "feature", gt + 1);
  }
  return out;
}

/** Total memory (MiB, summed over NUMA cells) and logical CPUs of the host, from `virsh capabilities`. */
export function hostSizeOf(capabilities: string): { memoryMb: number; cpus: number } | null {
  const topology = between(capabilities, "<topology>", "</topology>");
  if (topology === null) return null;
  let kib = 0;
  for (const m of topology.matchAll(/<memory unit=['"]KiB['"]>(\d+)<\/memory>/g)) kib += Number(m[1]);
  let cpus = 0;
  for (const m of topology.matchAll(/<cpus num=['"](\d+)['"]/g)) cpus += Number(m[1]);
  if (kib === 0 || cpus === 0) return null;
  return { memoryMb: Math.floor(kib / 1024), cpus };
}

/** A guest CPU of one named model (plus cpu_model_extra_flags), as nova writes it for `cpu_mode = custom`. */
export function customModelXml(
  model: string,
  features: readonly { name: string; policy: "require" | "disable" }[] = [],
): string {
  const lines = features.map((f) => `  <feature policy='${f.policy}' name='${f.name}'/>\n`).join("");
  return `<cpu mode='custom' match='exact'>\n  <model fallback='forbid'>${model}</model>\n${lines}</cpu>\n`;
}

const HOST_MODEL_OPEN = "<mode name='host-model' supported='yes'>";

/**
 * The host-model CPU of `virsh domcapabilities` (what compareHypervisorCPU judges against), as a
 * guest `<cpu>` of that model, vendor and features; null when the hypervisor offers none.
 */
export function hostModelCpuXml(domcapabilities: string): string | null {
  const open = domcapabilities.indexOf(HOST_MODEL_OPEN);
  if (open < 0) return null;
  const start = open + HOST_MODEL_OPEN.length;
  const end = domcapabilities.indexOf("</mode>", start);
  if (end < 0) return null;
  const body = domcapabilities
    .slice(start, end)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  if (!body.some((l) => l.startsWith("<model"))) return null;
  return `<cpu mode='custom' match='exact'>\n${body.map((l) => `  ${l}`).join("\n")}\n</cpu>\n`;
}

export type CpuCompareResult = "identical" | "superset" | "incompatible" | "error";

export interface CpuCompareVerdict {
  result: CpuCompareResult;
  /** libvirt's own words, `error: ` prefixes and blank lines removed. */
  text: string;
}

/**
 * The verdict of `virsh cpu-compare --error` or `virsh hypervisor-cpu-compare --error`: exit 0
 * with "identical"/"superset" on stdout, or exit 1 with "the CPU is incompatible with host CPU: …"
 * on stderr (both commands use that line). Anything else (a parse error, an unknown model) is an
 * `error`, not an incompatibility.
 */
export function readCpuCompare(out: { stdout: string; stderr: string; exitCode: number }): CpuCompareVerdict {
  const clean = (s: string) =>
    s
      .split(/\r?\n/)
      .map((l) => l.trim().replace(/^error:\s*/, ""))
      .filter((l) => l !== "");
  if (out.exitCode === 0) {
    const text = clean(out.stdout).join(" ");
    if (/\bidentical to (?:host CPU|the CPU provided by hypervisor on the host)\b/.test(text))
      return { result: "identical", text };
    if (/\b(?:Host CPU|The CPU provided by hypervisor on the host) is a superset of\b/.test(text))
      return { result: "superset", text };
    return { result: "error", text: text || "virsh printed nothing" };
  }
  const lines = clean(out.stderr);
  const incompatible = lines.find((l) => /incompatible with host CPU/.test(l));
  if (incompatible) return { result: "incompatible", text: incompatible };
  // `--error` makes an incompatibility an error; without it virsh says so on stdout.
  const plain = clean(out.stdout).find((l) =>
    /is incompatible with (?:host CPU|the CPU provided by hypervisor on the host)/.test(l),
  );
  if (plain) return { result: "incompatible", text: plain };
  return {
    result: "error",
    text:
      lines.filter((l) => !/^Failed to compare (?:host|hypervisor) CPU/.test(l)).join(" ") ||
      `exit status ${out.exitCode}`,
  };
}

const MISSING_FEATURES_INTRO = "does not provide required features:";
const LINE_BREAKS = "\n\r\u2028\u2029";

/** The features a `Host CPU does not provide required features: a, b, c` message names (on its last line). */
export function missingFeatures(text: string): string[] {
  // Found with indexOf: `features:\s*(.+)$` backtracked quadratically over blanks before a line break.
  // The list runs to the end of the text without a line break, after the blanks that follow the colon.
  let lastBreak = text.length - 1;
  while (lastBreak >= 0 && !LINE_BREAKS.includes(text[lastBreak]!)) lastBreak--;
  for (
    let i = text.indexOf(MISSING_FEATURES_INTRO);
    i >= 0;
    i = text.indexOf(MISSING_FEATURES_INTRO, i + 1)
  ) {
    let start = i + MISSING_FEATURES_INTRO.length;
    while (start < text.length && /\s/.test(text[start]!)) start++;
    if (start <= lastBreak) continue;
    return text
      .slice(start)
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  }
  return [];
}
