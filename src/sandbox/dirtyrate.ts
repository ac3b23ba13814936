/**
 * The sandbox hosts' dirty-rate measurement and the host facts around it, printed as libvirt 9.0.0
 * and iproute2 print them (compared with the lab captures in test/fixtures/libvirt-dirtyrate):
 * `virsh version`, `virsh domdirtyrate-calc`, `virsh domstats --dirtyrate`, `ip -o route get` and a
 * NIC's `/sys/class/net/<if>/speed`. The measured figure comes from the pre-copy model
 * ({@link measuredDirtyRateMiBps}) for the guest's seeded write rate and hot set.
 */
import { DIRTYRATE_CALC_STARTED_TEXT, DIRTYRATE_STATUS } from "../nova-facts/libvirt-dirtyrate";
import { measuredDirtyRateMiBps } from "./precopy-model";

/** The libvirt and QEMU the sandbox's hosts report: the lab's (Debian 12). */
export const SANDBOX_LIBVIRT_VERSION = "9.0.0";
export const SANDBOX_QEMU_VERSION = "7.2.22";
/**
 * The share of a NIC's nominal rate a migration stream gets (TCP/IP framing): the seed's 1 GbE link
 * moves 112 MiB/s. Used to give each sandbox link a nominal NIC speed.
 */
const USABLE_SHARE_OF_NIC = 0.94;
const MIB = 1024 ** 2;
/** The boot-time offset of QEMU's clock in `calc_start_time` (the lab's hosts had been up ~6 h). */
const HOST_UPTIME_AT_MODEL_START_S = 21_600;

/** One measurement started on a domain. */
export interface DirtyRateCalc {
  startS: number;
  periodS: number;
}

/** `virsh version` of a host running libvirt `libvirt` with QEMU. */
export function formatVirshVersion(libvirt: string = SANDBOX_LIBVIRT_VERSION): string {
  return `Compiled against library: libvirt ${libvirt}\nUsing library: libvirt ${libvirt}\nUsing API: QEMU ${libvirt}\nRunning hypervisor: QEMU ${SANDBOX_QEMU_VERSION}\n\n`;
}

/** What `virsh domdirtyrate-calc` prints when it started a measurement. */
export function formatDirtyRateCalcStarted(): string {
  return `${DIRTYRATE_CALC_STARTED_TEXT}\n\n`;
}

/** `virsh domdirtyrate-calc … --seconds 61`'s refusal (exit 1), as libvirt 9.0.0 words it: a blank stdout line, the error on stderr. */
export function dirtyRateSecondsRefusal(seconds: number): { stdout: string; stderr: string } {
  return {
    stdout: "\n",
    stderr: `error: unsupported configuration: seconds=${seconds} is invalid, please choose value within [1, 60].\n`,
  };
}

/**
 * `virsh domstats --dirtyrate <domain>`: unstarted (status 0) before any calculation, measuring
 * (1) during the period, measured (2) with the model's figure after it.
 */
export function formatDomstatsDirtyRate(
  domain: string,
  calc: DirtyRateCalc | undefined,
  nowS: number,
  guest: { dirtyRateBytesPerS: number; workingSetBytes: number },
): string {
  const lines = [`Domain: '${domain}'`];
  if (calc === undefined) {
    lines.push(
      `  dirtyrate.calc_status=${DIRTYRATE_STATUS.unstarted}`,
      "  dirtyrate.calc_start_time=0",
      "  dirtyrate.calc_period=0",
      "  dirtyrate.calc_mode=page-sampling",
    );
  } else {
    const measured = nowS >= calc.startS + calc.periodS;
    lines.push(
      `  dirtyrate.calc_status=${measured ? DIRTYRATE_STATUS.measured : DIRTYRATE_STATUS.measuring}`,
      `  dirtyrate.calc_start_time=${Math.floor(HOST_UPTIME_AT_MODEL_START_S + calc.startS)}`,
      `  dirtyrate.calc_period=${calc.periodS}`,
      "  dirtyrate.calc_mode=page-sampling",
    );
    if (measured)
      lines.push(`  dirtyrate.megabytes_per_second=${measuredDirtyRateMiBps(guest, calc.periodS)}`);
  }
  return `${lines.join("\n")}\n\n`;
}

/** The nominal NIC speed (Mbit/s) of a link that moves `linkMiBps` of migration traffic. */
export function nicSpeedMbpsForLink(linkMiBps: number): number {
  const mbps = (linkMiBps * MIB * 8) / 1e6 / USABLE_SHARE_OF_NIC;
  // NICs come in decades of 1000 Mbit/s and 2.5/5/25 GbE; round to a whole 1000 (or 100 below).
  return mbps >= 1000 ? Math.round(mbps / 1000) * 1000 : Math.round(mbps / 100) * 100;
}

/** `ip -o route get <to>` on-link through `dev`, as iproute2 6.1 prints it. */
export function formatRouteGet(to: string, dev: string, src: string): string {
  if (to === src) return `local ${to} dev lo table local src ${src} uid 0 \\    cache <local> \n`;
  return `${to} dev ${dev} src ${src} uid 0 \\    cache \n`;
}
