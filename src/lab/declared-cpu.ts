/**
 * Each lab host declares a CPU (a libvirt cputestdata host CPU of a real machine), because all lab
 * hosts run on one physical CPU and would otherwise always be compatible.
 *
 * libvirt reads the host CPU from the CPUID instruction and offers no way to compare against another
 * one, so "compare against the declared CPU" is done with real libvirt in two steps:
 * `virsh cpu-baseline --features` expands both CPU descriptions into their full feature lists with
 * libvirt's own CPU map (on the host's libvirtd), then the lists are compared the way libvirt's
 * x86 driver compares (vendor, required features, forbidden features) and the verdict is printed
 * in `virsh cpu-compare`'s words and exit statuses.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CpuDef, CpuXmlError, cpuidOrder, incompatibleText, parseCpuXml } from "../sandbox/cpu";
import { runCommand } from "./exec";

/** The real virsh, never the host's PATH wrapper (which calls back into this module). */
const REAL_VIRSH_PATH = "/usr/bin/virsh";
/** `virsh cpu-baseline` is pure computation on libvirtd; seconds mean it is stuck. */
const EXPAND_TIMEOUT_MS = 15_000;

export interface ExpandedCpu {
  vendor: string | null;
  /** Every feature the CPU has (model features included), as libvirt expands them. */
  features: Set<string>;
  /** Features a guest CPU forbids (`policy='forbid'`): the host must not have them. */
  forbidden: string[];
}

export interface CpuCompareAnswer {
  compatible: boolean;
  result: "identical" | "superset" | "incompatible" | "error";
  /** What virsh prints: stdout when compatible, the error lines otherwise. */
  text: string;
  exitCode: number;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A host-type `<cpu>` (what cpu-baseline accepts) for any CPU description, guest-type included. */
export function hostTypeCpuXml(cpu: CpuDef): string {
  const lines = ["<cpu>", `  <arch>${escapeXml(cpu.arch ?? "x86_64")}</arch>`];
  if (cpu.model) lines.push(`  <model>${escapeXml(cpu.model)}</model>`);
  if (cpu.vendor) lines.push(`  <vendor>${escapeXml(cpu.vendor)}</vendor>`);
  for (const f of cpu.features) {
    // Optional features are not required of the host; disabled and forbidden ones are removed later.
    if (f.policy === "disable" || f.policy === "forbid" || f.policy === "optional") continue;
    lines.push(`  <feature name='${escapeXml(f.name)}'/>`);
  }
  lines.push("</cpu>", "");
  return lines.join("\n");
}

/** Feature names in `virsh cpu-baseline --features` output. */
export function featuresOfBaseline(xml: string): string[] {
  const out: string[] = [];
  for (const m of xml.matchAll(/<feature\b[^>]*\bname='([^']+)'[^>]*\/>/g)) {
    if (!/policy='(disable|forbid)'/.test(m[0])) out.push(m[1]!);
  }
  return out;
}

/** Expands one CPU description with real libvirt (`virsh cpu-baseline --features`). */
export async function expandCpu(xml: string, virshPath = REAL_VIRSH_PATH): Promise<ExpandedCpu> {
  const cpu = parseCpuXml(xml)[0];
  if (cpu === undefined) throw new CpuXmlError("XML error: no <cpu> element");
  const dir = mkdtempSync(join(tmpdir(), "migbot-cpu-"));
  try {
    const file = join(dir, "cpu.xml");
    writeFileSync(file, hostTypeCpuXml(cpu));
    const result = await runCommand([virshPath, "cpu-baseline", "--features", file], {
      timeoutMs: EXPAND_TIMEOUT_MS,
    });
    if (result.code !== 0) throw new CpuXmlError(result.stderr.replace(/^error:\s*/gm, "").trim());
    const features = new Set(featuresOfBaseline(result.stdout));
    for (const f of cpu.features)
      if (f.policy === "disable" || f.policy === "forbid") features.delete(f.name);
    return {
      vendor: cpu.vendor,
      features,
      forbidden: cpu.features.filter((f) => f.policy === "forbid").map((f) => f.name),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** libvirt's x86 comparison of a CPU against a host CPU, both expanded. */
export function compareExpanded(
  host: ExpandedCpu,
  guest: ExpandedCpu,
): { result: "identical" | "superset" } | { result: "incompatible"; reason: string } {
  if (guest.vendor !== null && host.vendor !== null && guest.vendor !== host.vendor) {
    return {
      result: "incompatible",
      reason: `host CPU vendor does not match required CPU vendor ${guest.vendor}`,
    };
  }
  const missing = cpuidOrder([...guest.features].filter((f) => !host.features.has(f)));
  if (missing.length > 0) {
    return {
      result: "incompatible",
      reason: `Host CPU does not provide required features: ${missing.join(", ")}`,
    };
  }
  const forbidden = cpuidOrder(guest.forbidden.filter((f) => host.features.has(f)));
  if (forbidden.length > 0) {
    return {
      result: "incompatible",
      reason: `Host CPU provides forbidden features: ${forbidden.join(", ")}`,
    };
  }
  return host.features.size === guest.features.size ? { result: "identical" } : { result: "superset" };
}

/**
 * `virsh cpu-compare [--error] <file>` against the declared host CPU: same stdout, stderr and exit
 * status as virsh (0 identical/superset; 1 incompatible or error).
 */
export async function compareWithDeclaredCpu(
  cpuXml: string,
  declaredCpuPath: string,
  shownName: string,
  opts: { error?: boolean; virshPath?: string } = {},
): Promise<CpuCompareAnswer> {
  const failed = `error: Failed to compare host CPU with ${shownName}`;
  let host: ExpandedCpu;
  let guest: ExpandedCpu;
  try {
    host = await expandCpu(readFileSync(declaredCpuPath, "utf8"), opts.virshPath);
    guest = await expandCpu(cpuXml, opts.virshPath);
  } catch (err) {
    const message = err instanceof CpuXmlError ? err.message : (err as Error).message;
    return { compatible: false, result: "error", text: `${failed}\nerror: ${message}\n`, exitCode: 1 };
  }
  const verdict = compareExpanded(host, guest);
  if (verdict.result === "identical") {
    return {
      compatible: true,
      result: "identical",
      text: `CPU described in ${shownName} is identical to host CPU\n\n`,
      exitCode: 0,
    };
  }
  if (verdict.result === "superset") {
    return {
      compatible: true,
      result: "superset",
      text: `Host CPU is a superset of CPU described in ${shownName}\n\n`,
      exitCode: 0,
    };
  }
  const reason = "reason" in verdict ? verdict.reason : "";
  const text =
    opts.error === true
      ? `${failed}\nerror: ${incompatibleText(reason)}\n\n`
      : `CPU described in ${shownName} is incompatible with host CPU\n\n`;
  return { compatible: false, result: "incompatible", text, exitCode: 1 };
}

/**
 * `virsh capabilities` with the declared CPU in `<host><cpu>`: arch, model, vendor and features are
 * the declared ones; the real CPU's identity (microcode, signature) is left out, topology and page
 * sizes are the machine's.
 */
export function capabilitiesWithDeclaredCpu(capabilities: string, declaredCpuXml: string): string {
  const declared = parseCpuXml(declaredCpuXml)[0];
  if (declared === undefined) throw new CpuXmlError("the declared CPU file has no <cpu> element");
  return capabilities.replace(
    /(<host>[\s\S]*?)(<cpu>)([\s\S]*?)(\n\s*<\/cpu>)/,
    (_all, before, open, body, close) => {
      const indent = /\n(\s*)<cpu>/.exec(`\n${before.split("\n").at(-1)}<cpu>`)?.[1] ?? "    ";
      const inner = `${indent}  `;
      const kept = (body as string)
        .split("\n")
        .filter((line) => !/^\s*<(arch|model|vendor|feature|microcode|signature)\b/.test(line));
      const identity = [
        `${inner}<arch>${declared.arch ?? "x86_64"}</arch>`,
        `${inner}<model>${declared.model ?? ""}</model>`,
        `${inner}<vendor>${declared.vendor ?? ""}</vendor>`,
      ];
      const features = declared.features.map((f) => `${inner}<feature name='${f.name}'/>`);
      const rest = kept.filter((l) => l.trim() !== "");
      const counters = rest.filter((l) => /<(counter|topology|maxphysaddr)\b/.test(l));
      const others = rest.filter((l) => !counters.includes(l));
      return `${before}${open}\n${[...identity, ...counters, ...features, ...others].join("\n")}${close}`;
    },
  );
}
