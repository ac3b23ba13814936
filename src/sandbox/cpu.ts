/**
 * libvirt's x86 CPU logic as far as the sandbox needs it: reading `<cpu>` XML, comparing a guest
 * CPU with a host CPU (`virsh cpu-compare`, Nova's live-migration pre-check) and computing a
 * baseline (`virsh cpu-baseline`). Data-driven: model feature lists and the CPUID order of
 * features come from libvirt's cpu_map (`data/libvirt-cpu-map.json`), host CPUs from libvirt's
 * cputestdata files (`data/cputestdata/`).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CodedError } from "../errors";

const DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), "data");

interface CpuMapFile {
  featureOrder: string[];
  models: Record<string, { vendor: string | null; features: string[] }>;
}

const CPU_MAP = JSON.parse(readFileSync(join(DATA_DIR, "libvirt-cpu-map.json"), "utf8")) as CpuMapFile;
const FEATURE_RANK = new Map(CPU_MAP.featureOrder.map((name, i) => [name, i]));
/** Features libvirt leaves out of a computed baseline (host-only state, not a guest capability). */
const BASELINE_DROPPED_FEATURES = new Set(["osxsave", "ospke"]);

/** The CPU models the sandbox knows, as in libvirt's cpu_map. */
export function knownCpuModels(): string[] {
  return Object.keys(CPU_MAP.models);
}

export interface CpuFeature {
  name: string;
  /** `require` (or absent), `force`, `optional`, `disable`, `forbid`. */
  policy: string | null;
}

export interface CpuDef {
  mode: string | null;
  match: string | null;
  arch: string | null;
  model: string | null;
  vendor: string | null;
  features: CpuFeature[];
}

/** Host CPU files shipped with the sandbox, by model name. */
export const HOST_CPU_FILES: Record<string, string> = {
  "Haswell-noTSX": "x86-cpuid-Core-i7-4600U-host.xml",
  Broadwell: "x86-cpuid-Core-i7-5600U-host.xml",
  "Skylake-Client": "x86-cpuid-Core-i5-6600-host.xml",
};

/**
 * What QEMU/KVM can give a guest on the same machines (`query-cpu-model-expansion` of the `host`
 * model, as libvirt's cputestdata records it in `*-json.xml`): the host-model CPU of `virsh
 * domcapabilities`, which `hypervisor-cpu-compare` judges against.
 */
export const HOST_MODEL_FILES: Record<string, string> = {
  "Haswell-noTSX": "x86-cpuid-Core-i7-4600U-json.xml",
  Broadwell: "x86-cpuid-Core-i7-5600U-json.xml",
  "Skylake-Client": "x86-cpuid-Core-i5-6600-json.xml",
};

/**
 * The host-model CPU of a machine whose host CPU is `model`: the cputestdata expansion, with the
 * host's vendor (domcapabilities names it; the expansion file does not).
 */
export function hostModelCpu(model: string): CpuDef {
  const file = HOST_MODEL_FILES[model];
  if (file === undefined) throw new Error(`no cputestdata host-model CPU for model ${model}`);
  const cpus = parseCpuXml(readFileSync(join(DATA_DIR, "cputestdata", file), "utf8"));
  if (cpus.length !== 1) throw new Error(`${file}: expected one <cpu>`);
  return { ...cpus[0]!, vendor: hostCpu(model).vendor };
}

/** The host CPU of a real machine with this model, from libvirt's cputestdata. */
export function hostCpu(model: string): CpuDef {
  const file = HOST_CPU_FILES[model];
  if (file === undefined) throw new Error(`no cputestdata host CPU for model ${model}`);
  const cpus = parseCpuXml(readFileSync(join(DATA_DIR, "cputestdata", file), "utf8"));
  if (cpus.length !== 1) throw new Error(`${file}: expected one <cpu>`);
  return cpus[0]!;
}

function attr(tag: string, name: string): string | null {
  const m = new RegExp(`\\b${name}\\s*=\\s*(?:'([^']*)'|"([^"]*)")`).exec(tag);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

function decodeXml(text: string): string {
  return text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

/** Text that holds no `<cpu>` element libvirt could read; the message is libvirt's wording. */
export class CpuXmlError extends CodedError<"CPU_XML_INVALID"> {
  constructor(message: string) {
    // Not retryable: the same XML fails the same way.
    super("CPU_XML_INVALID", message, { retryable: false });
  }
}

/**
 * Every `<cpu>` element in a document (a lone CPU, several concatenated, or `virsh capabilities`
 * output). Throws {@link CpuXmlError} with libvirt's wording when there is none.
 */
export function parseCpuXml(xml: string): CpuDef[] {
  const out: CpuDef[] = [];
  const re = /<cpu(\s[^>]*)?>([\s\S]*?)<\/cpu>/g;
  for (let m = re.exec(xml); m !== null; m = re.exec(xml)) {
    const open = m[1] ?? "";
    const body = m[2] ?? "";
    // Skip the topology entries `<cpu id='0' .../>` inside capabilities: they never have a body.
    const modelTag = /<model([^>]*)>([^<]*)<\/model>/.exec(body);
    const features: CpuFeature[] = [];
    for (const f of body.matchAll(/<feature\b([^>]*)\/>/g)) {
      const name = attr(f[1] ?? "", "name");
      if (name) features.push({ name, policy: attr(f[1] ?? "", "policy") });
    }
    out.push({
      mode: attr(open, "mode"),
      match: attr(open, "match"),
      arch: /<arch>([^<]*)<\/arch>/.exec(body)?.[1]?.trim() ?? null,
      model: modelTag ? decodeXml(modelTag[2]!.trim()) : null,
      vendor: /<vendor>([^<]*)<\/vendor>/.exec(body)?.[1]?.trim() ?? null,
      features,
    });
  }
  if (out.length === 0) throw new CpuXmlError("XML error: failed to parse XML document: no <cpu> element");
  return out;
}

/** Thrown for a model libvirt does not know; the message is libvirt 9's (captured in data/libvirt/). */
export class UnknownCpuModelError extends CodedError<"CPU_MODEL_UNKNOWN"> {
  constructor(readonly model: string) {
    // Not retryable: libvirt's CPU map does not change between tries.
    super("CPU_MODEL_UNKNOWN", `internal error: Unknown CPU model ${model}`, { retryable: false });
  }
}

/** All features a CPU definition provides or requires: its model's list plus its own, minus disabled ones. */
export function featureSet(cpu: CpuDef): Set<string> {
  const set = new Set<string>();
  if (cpu.model !== null) {
    const model = CPU_MAP.models[cpu.model];
    if (model === undefined) throw new UnknownCpuModelError(cpu.model);
    for (const f of model.features) set.add(f);
  }
  for (const f of cpu.features) {
    if (f.policy === "disable" || f.policy === "forbid") set.delete(f.name);
    else if (f.policy !== "optional") set.add(f.name);
  }
  return set;
}

/** Sorts feature names the way libvirt prints them: by CPUID leaf and bit. */
export function cpuidOrder(names: Iterable<string>): string[] {
  const rank = (n: string) => FEATURE_RANK.get(n) ?? Number.MAX_SAFE_INTEGER;
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

export type CpuCompareResult =
  | { result: "identical" }
  | { result: "superset" }
  | { result: "incompatible"; reason: string };

/** Is `guest` runnable on `host`? libvirt's virCPUCompare, with its reasons' wording. */
export function compareCpu(host: CpuDef, guest: CpuDef): CpuCompareResult {
  if (guest.vendor !== null && host.vendor !== null && guest.vendor !== host.vendor) {
    return {
      result: "incompatible",
      reason: `host CPU vendor does not match required CPU vendor ${guest.vendor}`,
    };
  }
  const hostSet = featureSet(host);
  const guestSet = featureSet(guest);
  const missing = cpuidOrder([...guestSet].filter((f) => !hostSet.has(f)));
  if (missing.length > 0) {
    return {
      result: "incompatible",
      reason: `Host CPU does not provide required features: ${missing.join(", ")}`,
    };
  }
  const forbidden = cpuidOrder(
    guest.features.filter((f) => f.policy === "forbid" && hostSet.has(f.name)).map((f) => f.name),
  );
  if (forbidden.length > 0) {
    return {
      result: "incompatible",
      reason: `Host CPU provides forbidden features: ${forbidden.join(", ")}`,
    };
  }
  return hostSet.size === guestSet.size ? { result: "identical" } : { result: "superset" };
}

/** The libvirtError text Nova's pre-check receives for an incompatible CPU. */
export function incompatibleText(reason: string): string {
  return `the CPU is incompatible with host CPU: ${reason}`;
}

/** The best libvirt model for a feature set: the known model covering most of it (fewest extras). */
function bestModel(features: Set<string>, vendor: string | null): string {
  let best = "";
  let bestExtras = Number.MAX_SAFE_INTEGER;
  for (const [name, model] of Object.entries(CPU_MAP.models)) {
    if (model.vendor !== null && vendor !== null && model.vendor !== vendor) continue;
    if (!model.features.every((f) => features.has(f))) continue;
    const extras = features.size - model.features.length;
    if (extras < bestExtras) {
      best = name;
      bestExtras = extras;
    }
  }
  return best;
}

/** The common features of several CPUs, the libvirt model that covers most of them, and the rest. */
function baseline(cpus: CpuDef[]): { model: string; vendor: string | null; extras: string[] } {
  if (cpus.length === 0) throw new CpuXmlError("XML error: failed to parse XML document: no <cpu> element");
  const sets = cpus.map(featureSet);
  const common = new Set(
    [...sets[0]!].filter((f) => sets.every((s) => s.has(f)) && !BASELINE_DROPPED_FEATURES.has(f)),
  );
  const vendors = new Set(cpus.map((c) => c.vendor));
  const vendor = vendors.size === 1 ? (cpus[0]!.vendor ?? null) : null;
  const model = bestModel(common, vendor);
  const modelFeatures = new Set(model ? CPU_MAP.models[model]!.features : []);
  return { model, vendor, extras: cpuidOrder([...common].filter((f) => !modelFeatures.has(f))) };
}

/** `virsh cpu-baseline`: the common CPU of several, as libvirt prints it. */
export function baselineCpuXml(cpus: CpuDef[]): string {
  const { model, vendor, extras } = baseline(cpus);
  const lines = ["<cpu mode='custom' match='exact'>"];
  if (model) lines.push(`  <model fallback='allow'>${model}</model>`);
  if (vendor) lines.push(`  <vendor>${vendor}</vendor>`);
  for (const f of extras) lines.push(`  <feature policy='require' name='${f}'/>`);
  lines.push("</cpu>");
  return `${lines.join("\n")}\n`;
}

/**
 * `virsh hypervisor-cpu-baseline`: the baseline of several CPUs that this hypervisor can run, as
 * libvirt 9 prints it (captured in data/libvirt/): the model is forbidden to fall back, and the
 * model's features the hypervisor cannot provide (QEMU's blockers) are disabled. The model is
 * chosen as for `cpu-baseline`; libvirt also weighs blockers when it picks one among several
 * CPUs, which the sandbox does not model.
 */
export function hypervisorBaselineCpuXml(cpus: CpuDef[], hypervisor: CpuDef): string {
  const { model, vendor, extras } = baseline(cpus);
  const provided = featureSet(hypervisor);
  const blockers = model ? cpuidOrder(CPU_MAP.models[model]!.features.filter((f) => !provided.has(f))) : [];
  const lines = ["<cpu mode='custom' match='exact'>"];
  if (model) lines.push(`  <model fallback='forbid'>${model}</model>`);
  if (vendor) lines.push(`  <vendor>${vendor}</vendor>`);
  for (const f of extras) lines.push(`  <feature policy='require' name='${f}'/>`);
  for (const f of blockers) lines.push(`  <feature policy='disable' name='${f}'/>`);
  lines.push("</cpu>");
  return `${lines.join("\n")}\n`;
}

/** Whether libvirt lists a named model as usable for guests of this hypervisor (`virsh domcapabilities`). */
export function modelUsable(model: string, hypervisor: CpuDef): boolean {
  const provided = featureSet(hypervisor);
  return CPU_MAP.models[model]!.features.every((f) => provided.has(f));
}

/** The vendor libvirt's cpu_map gives a model, or null ("unknown" in domcapabilities). */
export function modelVendor(model: string): string | null {
  return CPU_MAP.models[model]?.vendor ?? null;
}

/** The guest CPU XML Nova would give a VM started under this `cpu_mode` / model on this host. */
export function guestCpuFor(host: CpuDef, cpuMode: string, cpuModel: string | null): CpuDef {
  if (cpuMode === "custom" && cpuModel) {
    return { mode: "custom", match: "exact", arch: null, model: cpuModel, vendor: null, features: [] };
  }
  // host-model (Nova's default for kvm), host-passthrough and none all expose the host's CPU.
  return { ...host, mode: cpuMode };
}

/** A `<cpu>` element as libvirt writes one in `virsh capabilities` (host) form. */
export function hostCpuXml(cpu: CpuDef, indent: string): string {
  const lines = [
    "<cpu>",
    `  <arch>${cpu.arch ?? "x86_64"}</arch>`,
    `  <model>${cpu.model ?? ""}</model>`,
    `  <vendor>${cpu.vendor ?? ""}</vendor>`,
    ...cpu.features.map((f) => `  <feature name='${f.name}'/>`),
  ];
  return lines.map((l) => indent + l).join("\n");
}
