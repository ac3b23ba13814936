/** What the lab's end-to-end tests share: whether the lab can run here, and the one-lab-at-a-time lock. */
import { findProgram, namespacesUnavailableReason } from "../../src/lab/lab";

/** Programs the lab end-to-end tests need, with their Debian packages. */
export const LAB_REQUIRED_PROGRAMS = [
  ["ip", "iproute2"],
  ["sshd", "openssh-server"],
  ["libvirtd", "libvirt-daemon libvirt-daemon-driver-qemu"],
  ["virsh", "libvirt-clients"],
  ["qemu-system-x86_64", "qemu-system-x86"],
  ["as", "binutils"],
] as const;

/**
 * How long a lab test waits for the other lab files of the same `npm test` to finish with the lab:
 * the last of the three may wait for the other two (lab.test.ts ~2 min, story.test.ts ~4 min,
 * openstack.test.ts ~6 min on a busy machine).
 */
export const LAB_LOCK_WAIT_MS = 900_000;

/**
 * Null when the lab tests can run here; otherwise why not. As root where namespaces work, CI must
 * run them: with CI=true a missing program is a failure (with the install command), not a skip.
 */
export async function labSkipReason(): Promise<string | null> {
  if (process.getuid?.() !== 0) return "not root (the lab creates namespaces, mounts and daemons)";
  const reason = await namespacesUnavailableReason();
  if (reason !== null) return `namespaces are not permitted here: ${reason}`;
  const missing = LAB_REQUIRED_PROGRAMS.filter(([name]) => findProgram(name) === null);
  if (missing.length > 0) {
    const hint = `missing ${missing.map(([n]) => n).join(", ")}: run \`apt-get install -y --no-install-recommends ${missing.map(([, d]) => d).join(" ")}\` (.ci/run does)`;
    if (process.env.CI === "true") throw new Error(hint);
    return hint;
  }
  return null;
}
