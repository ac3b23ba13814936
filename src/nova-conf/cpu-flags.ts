/**
 * src/nova-conf: nova.conf as migbot reads and edits it — the document model that keeps comments
 * and order (document.ts), the effective live-migration settings per release (effective.ts),
 * atomic edits for fix proposals (edit.ts), secret masking (redact.ts), releases (releases.ts).
 *
 * This file: `[libvirt] cpu_model_extra_flags` as the guest CPU features Nova adds to the model.
 */
import { versionAtLeast } from "../nova-facts";
import type { ReleaseInfo } from "./releases";

/** A guest CPU feature as Nova writes it into the `<cpu>` element: required or disabled. */
export interface ExtraFlagFeature {
  name: string;
  policy: "require" | "disable";
}

/**
 * `[libvirt] cpu_model_extra_flags` as the guest CPU features Nova adds on top of the model. The
 * flags are case-insensitive and de-duplicated (`set(x.lower() for x in …)`). From 23.0.0
 * (`_prepare_cpu_flag`, nova/virt/libvirt/driver.py) a leading `-` disables the flag and a leading
 * `+` (or none) requires it; before, every word is required as written, so `+pcid` would be a
 * feature libvirt does not know.
 */
export function extraFlagFeatures(release: ReleaseInfo, flags: readonly string[]): ExtraFlagFeature[] {
  const signs = versionAtLeast(release, "23.0.0");
  const out: ExtraFlagFeature[] = [];
  for (const flag of new Set(flags.map((f) => f.toLowerCase()))) {
    const feature: ExtraFlagFeature =
      signs && flag.startsWith("-")
        ? { name: flag.replace(/^-+/, ""), policy: "disable" }
        : { name: signs ? flag.replace(/^\++/, "") : flag, policy: "require" };
    out.push(feature);
  }
  return out;
}
