import { readFixture } from "../support/fixtures";

/** A config file as nova-compute would read it. */
export interface ConfFixture {
  /** What the test calls it. */
  name: string;
  path: string;
  text: string;
}

const NOVA_CONF = "/etc/nova/nova.conf";

/**
 * The ini snippets of an openstack-manuals install guide, joined per target file (`.. path …`,
 * default /etc/nova/nova.conf) in the order the guide has the reader add them. The guides write
 * `...` for "the rest of the file"; oslo.config would reject such a line, so it is left out.
 */
export function installGuideConfs(relative: string): ConfFixture[] {
  const lines = readFixture(relative).split("\n");
  const byPath = new Map<string, string[]>();
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\.\. code-block:: ini\s*$/.test(lines[i]!)) continue;
    const pathLine = /^\s*\.\. path (\S+)/.exec(lines[i - 1] ?? "");
    const path = pathLine ? pathLine[1]! : NOVA_CONF;
    let j = i + 1;
    while (j < lines.length && lines[j]!.trim() === "") j++;
    const indent = /^\s*/.exec(lines[j]!)![0].length;
    const block: string[] = [];
    for (; j < lines.length; j++) {
      const l = lines[j]!;
      if (l.trim() !== "" && /^\s*/.exec(l)![0].length < indent) break;
      block.push(l.slice(indent));
    }
    while (block.length > 0 && block[block.length - 1]!.trim() === "") block.pop();
    const body = block.filter((l) => l.trim() !== "...");
    byPath.set(path, [...(byPath.get(path) ?? []), ...(byPath.has(path) ? [""] : []), ...body]);
  }
  return [...byPath].map(([path, body]) => ({
    name: `${relative} → ${path}`,
    path,
    text: `${body.join("\n")}\n`,
  }));
}

/** Every nova.conf-like file in ../shared/fixtures/nova-conf/, as nova-compute host configurations. */
export function allHostConfigs(): { name: string; files: ConfFixture[] }[] {
  const zedNova: ConfFixture = {
    name: "zed nova.conf sample",
    path: NOVA_CONF,
    text: readFixture("nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf"),
  };
  const zedCompute: ConfFixture = {
    name: "zed nova-compute.conf",
    path: "/etc/nova/nova-compute.conf",
    text: readFixture("nova-conf/nova-compute.conf-zed-26.2.2-debian-kvm.conf"),
  };
  const mitakaExample: ConfFixture = {
    name: "liberty/mitaka example nova.conf",
    path: NOVA_CONF,
    text: readFixture("nova-conf/nova.conf.config-reference-example-liberty-mitaka-era.conf"),
  };
  const newton = installGuideConfs("nova-conf/install-guide-nova-compute-install-newton-era.rst");
  const mitakaController = installGuideConfs("nova-conf/install-guide-nova-controller-install-mitaka.rst");
  return [
    { name: "debian zed: nova.conf + nova-compute.conf", files: [zedNova, zedCompute] },
    { name: "debian zed: nova-compute.conf alone", files: [{ ...zedCompute, path: NOVA_CONF }] },
    { name: "liberty/mitaka example", files: [mitakaExample] },
    { name: "newton compute install guide", files: newton },
    { name: "mitaka controller install guide", files: mitakaController },
  ];
}

/** The same text with every line ending as CRLF. */
export function toCrlf(text: string): string {
  return text.replace(/\r?\n/g, "\r\n");
}
