/**
 * The tiny guest: a multiboot ELF built from lab/guest/dirty.S that dirties a 32 MiB working set at a
 * rate proportional to the CPU time it gets, and the libvirt domain that boots it under TCG.
 */
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LabError } from "./errors";
import { mustRun } from "./exec";
import { mustVirsh, virsh } from "./host-exec";
import { bindSourceDir } from "./plan";
import type { LabState } from "./state";

export const GUEST_SOURCE_PATH = fileURLToPath(new URL("../../lab/guest/dirty.S", import.meta.url));
/**
 * Spin iterations after each page: ~320 000 gives ~27 MiB/s of dirtying under TCG on this kind of
 * machine (measured: 300 000 → 30 MiB/s), far above the lab's 5 MiB/s migration bandwidth.
 */
export const DEFAULT_SPIN_ITERATIONS = 320_000;
export const GUEST_MEMORY_MIB = 128;
/** The guest writes one character to COM1 per this many MiB dirtied. */
export const GUEST_MIB_PER_SERIAL_CHAR = 4;
const BUILD_TIMEOUT_MS = 20_000;
/** QEMU under TCG starts in well under a second; define+start gets this long. */
const START_TIMEOUT_MS = 30_000;

/** Assembles and links the guest into `<guestDir>/dirty.elf`; returns its path. */
export async function buildGuest(
  guestDir: string,
  spinIterations: number = DEFAULT_SPIN_ITERATIONS,
): Promise<string> {
  if (!Number.isInteger(spinIterations) || spinIterations < 1 || spinIterations > 0xffffffff) {
    throw new LabError(
      "LAB_USAGE",
      `spin iterations must be a whole number from 1 to 2^32-1, got ${spinIterations}`,
    );
  }
  mkdirSync(guestDir, { recursive: true });
  const object = join(guestDir, "dirty.o");
  const elf = join(guestDir, "dirty.elf");
  await mustRun(
    ["as", "--32", "--defsym", `SPIN_ITERATIONS=${spinIterations}`, "-o", object, GUEST_SOURCE_PATH],
    { timeoutMs: BUILD_TIMEOUT_MS, what: "assembling the lab guest (as --32)" },
  );
  await mustRun(["ld", "-m", "elf_i386", "-Ttext", "0x100000", "-o", elf, object], {
    timeoutMs: BUILD_TIMEOUT_MS,
    what: "linking the lab guest (ld -m elf_i386)",
  });
  return elf;
}

/** Nova's instance names: `instance-%08x`. */
export function instanceName(id: number): string {
  return `instance-${id.toString(16).padStart(8, "0")}`;
}

/** Inside every host, /var/log/libvirt is that host's own folder: the same path is a different file per host. */
export function guestSerialLogPath(name: string): string {
  return `/var/log/libvirt/qemu/${name}.serial.log`;
}

export interface GuestDomainOptions {
  name: string;
  kernelPath: string;
  /** @defaultValue guestSerialLogPath(name) */
  serialLogPath?: string;
  /** @defaultValue 128 */
  memoryMiB?: number;
}

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Domain XML: TCG, 1 vCPU, the guest as `<kernel>`, serial port to a file, no balloon. */
export function guestDomainXml(options: GuestDomainOptions): string {
  const memory = options.memoryMiB ?? GUEST_MEMORY_MIB;
  const serial = options.serialLogPath ?? guestSerialLogPath(options.name);
  return [
    "<domain type='qemu'>",
    `  <name>${xmlEscape(options.name)}</name>`,
    `  <memory unit='MiB'>${memory}</memory>`,
    `  <currentMemory unit='MiB'>${memory}</currentMemory>`,
    "  <vcpu placement='static'>1</vcpu>",
    "  <os>",
    "    <type arch='x86_64' machine='pc'>hvm</type>",
    `    <kernel>${xmlEscape(options.kernelPath)}</kernel>`,
    "  </os>",
    "  <on_poweroff>destroy</on_poweroff>",
    "  <on_reboot>restart</on_reboot>",
    "  <on_crash>destroy</on_crash>",
    "  <devices>",
    "    <emulator>/usr/bin/qemu-system-x86_64</emulator>",
    "    <serial type='file'>",
    `      <source path='${xmlEscape(serial)}'/>`,
    "      <target port='0'/>",
    "    </serial>",
    "    <memballoon model='none'/>",
    "  </devices>",
    "</domain>",
    "",
  ].join("\n");
}

/** Defines the guest on a host from XML and starts it; returns its domain name. */
export async function startGuest(
  state: LabState,
  host: string,
  options: { id?: number; kernelPath?: string } = {},
): Promise<string> {
  const name = instanceName(options.id ?? 1);
  const kernelPath = options.kernelPath ?? join(state.stateDir, "guest", "dirty.elf");
  const xmlPath = join(state.stateDir, host, `${name}.xml`);
  writeFileSync(xmlPath, guestDomainXml({ name, kernelPath }));
  await mustVirsh(state, host, ["define", xmlPath], START_TIMEOUT_MS);
  await mustVirsh(state, host, ["start", name], START_TIMEOUT_MS);
  return name;
}

/** Domain names and states on a host (`virsh list --all`), e.g. `{ "instance-00000001": "running" }`. */
export async function listDomains(state: LabState, host: string): Promise<Record<string, string>> {
  const result = await virsh(state, host, ["list", "--all"]);
  if (result.code !== 0) return {};
  const domains: Record<string, string> = {};
  for (const line of result.stdout.split("\n").slice(2)) {
    const match = /^\s*(\S+)\s+(\S+)\s+(.+?)\s*$/.exec(line);
    if (match?.[2] !== undefined && match[3] !== undefined) domains[match[2]] = match[3];
  }
  return domains;
}

/** Where a host's copy of the guest's serial log lives, seen from the root namespace. */
export function serialLogPathOnDisk(state: LabState, host: string, name: string): string {
  return join(bindSourceDir(join(state.stateDir, host), "/var/log/libvirt"), "qemu", `${name}.serial.log`);
}

/** Bytes in the guest's serial log on a host (0 when it has none): one byte per 4 MiB the guest dirtied there. */
export function serialLogSize(state: LabState, host: string, name: string): number {
  try {
    return statSync(serialLogPathOnDisk(state, host, name)).size;
  } catch {
    return 0;
  }
}
