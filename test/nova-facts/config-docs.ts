import { readFixture } from "../support/fixtures";

/** The Zed 26.2.2 nova.conf sample Debian ships (oslo-config-generator output, every option commented). */
export const ZED_SAMPLE = "nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf";
/** openstack-manuals' generated Mitaka table of live-migration options. */
export const MITAKA_LIVE_MIGRATION_TABLE = "nova-conf/config-reference-table-nova-livemigration-mitaka.rst";
/** openstack-manuals' generated Liberty/Mitaka-era table of [libvirt] options. */
export const MITAKA_LIBVIRT_TABLE = "nova-conf/config-reference-table-nova-libvirt-liberty-mitaka-era.rst";

export interface SampleOption {
  /** The commented default as the generator wrote it ("500", "<None>", "" for an empty list). */
  value: string;
  /** Deprecated names listed right above it ("[libvirt]/cpu_model"). */
  deprecatedNames: string[];
}

/**
 * The options of an oslo-config-generator sample, by section: every `#name = value` line (the
 * generator comments each default out) with the `# Deprecated group/name - …` lines before it.
 */
export function sampleOptions(relative: string): Map<string, Map<string, SampleOption>> {
  const sections = new Map<string, Map<string, SampleOption>>();
  let current: Map<string, SampleOption> | undefined;
  let deprecated: string[] = [];
  for (const line of readFixture(relative).split("\n")) {
    const header = /^\[([^\]]+)\]\s*$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      deprecated = [];
      continue;
    }
    const dep = /^# Deprecated group\/name - (\S+)/.exec(line);
    if (dep) {
      deprecated.push(dep[1]!);
      continue;
    }
    const opt = /^#([a-z0-9_]+) =(?: (.*))?$/.exec(line);
    if (opt && current) {
      current.set(opt[1]!, { value: (opt[2] ?? "").trim(), deprecatedNames: deprecated });
      deprecated = [];
      continue;
    }
    if (line.trim() === "") deprecated = [];
  }
  return sections;
}

/** `option → default` of an openstack-manuals config-reference table ("``name`` = ``value``" rows). */
export function tableDefaults(relative: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of readFixture(relative).matchAll(/^\s*\* - ``([a-z0-9_]+)`` =(?: ``(.*)``)?\s*$/gm)) {
    out.set(m[1]!, m[2] ?? "");
  }
  return out;
}
