/**
 * `virsh domcapabilities` of a sandbox host: libvirt 9.0's output captured on a KVM machine
 * (`data/libvirt/virsh-domcapabilities.nested-kvm-libvirt-9.0.0.xml`), with the CPU part made the
 * host's own: the host-model CPU that `hypervisor-cpu-compare` judges against, and which of the
 * named models the sandbox knows are usable there.
 */
import { type CpuDef, knownCpuModels, modelUsable, modelVendor } from "./cpu";
import { readSandboxData } from "./data-files";

const CAPTURED = readSandboxData("libvirt/virsh-domcapabilities.nested-kvm-libvirt-9.0.0.xml");

/** Replaces the body of `<mode name='NAME' …>…</mode>` in the captured document. */
function replaceMode(xml: string, name: string, body: string[]): string {
  const open = xml.indexOf(`<mode name='${name}'`);
  const start = xml.indexOf(">", open) + 1;
  const end = xml.indexOf("</mode>", start);
  if (open < 0 || end < 0) throw new Error(`captured domcapabilities has no ${name} mode`);
  return `${xml.slice(0, start)}\n${body.join("\n")}\n    ${xml.slice(end)}`;
}

/** The models of the captured list the sandbox knows, in libvirt's order. */
function capturedModelOrder(): string[] {
  const known = new Set(knownCpuModels());
  const open = CAPTURED.indexOf("<mode name='custom'");
  const section = CAPTURED.slice(open, CAPTURED.indexOf("</mode>", open));
  return [...section.matchAll(/<model [^>]*>([^<]+)<\/model>/g)]
    .map((m) => m[1]!)
    .filter((m) => known.has(m));
}

const MODEL_ORDER = capturedModelOrder();

/** `virsh domcapabilities` (stdout) for a host whose hypervisor offers `hostModel` as host-model CPU. */
export function formatDomCapabilities(hostModel: CpuDef): string {
  const indent = "      ";
  const hostModelBody = [
    `${indent}<model fallback='forbid'>${hostModel.model ?? ""}</model>`,
    ...(hostModel.vendor ? [`${indent}<vendor>${hostModel.vendor}</vendor>`] : []),
    ...hostModel.features.map(
      (f) => `${indent}<feature policy='${f.policy ?? "require"}' name='${f.name}'/>`,
    ),
  ];
  const customBody = MODEL_ORDER.map(
    (m) =>
      `${indent}<model usable='${modelUsable(m, hostModel) ? "yes" : "no"}' vendor='${modelVendor(m) ?? "unknown"}'>${m}</model>`,
  );
  let xml = replaceMode(CAPTURED, "host-model", hostModelBody);
  xml = replaceMode(xml, "custom", customBody);
  return `${xml.trimEnd()}\n\n`;
}
