/**
 * What `lab up --openstack` puts into the running cloud once the computes are up: their host
 * mappings (`discover_hosts`), the lab guest as Glance images (a kernel image plus a raw root disk
 * that names it in `kernel_id`) and the flavor.
 *
 * Why a kernel image, not a bootable disk: the guest (lab/guest/dirty.S) is a multiboot ELF that
 * QEMU loads directly (`-kernel`). Nova's libvirt driver boots exactly that when the image has a
 * `kernel_id` property: it fetches the kernel image into the instance folder as `kernel` and writes
 * `<kernel>` into the domain (nova/virt/libvirt/driver.py at 26.2.2: `_set_guest_for_inst_kernel`);
 * on a block migration the destination fetches it too (`_fetch_instance_kernel_ramdisk`, from
 * pre_live_migration). A bootable disk would need a boot loader and partitioning for no gain: the
 * guest never touches its disk, which stays a 1 MiB raw image (Nova gives it a qcow2 overlay).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LabError } from "../errors";
import { sleep } from "../exec";
import { buildGuest } from "../guest";
import {
  CALM_IMAGE_NAME,
  CALM_SPIN_FACTOR,
  DIRTY_IMAGE_NAME,
  DIRTY_SPIN_DIVISOR,
  GLANCE_URL,
  LAB_FLAVOR,
  NOVA_URL,
  ROOT_DISK_BYTES,
} from "./layout";
import { createdId, rest } from "./rest";

/**
 * The kernel image's disk_format. `aki` is the traditional one, and booting works with it, but a
 * block live migration then fails: the destination fetches the kernel with `fetch_image` →
 * `images.fetch_to_raw`, whose deep format inspection (added by Debian's security update of nova
 * 26.2.2, nova/virt/images.py `do_image_deep_inspection`) returns the claimed `aki` while qemu-img
 * says `raw`, and refuses it: `ImageUnacceptable: Image content does not match disk_format` in
 * pre_live_migration (seen in this lab; the boot path uses `fetch_raw_image`, which skips the
 * check). An ELF is raw to both inspectors, so `raw` passes on both paths.
 */
export const KERNEL_DISK_FORMAT = "raw";

/** From the computes' start to Nova listing every one up with its hypervisor (the first resource update takes ~10 s). */
export const COMPUTES_UP_TIMEOUT_MS = 240_000;
const POLL_INTERVAL_MS = 1_000;

interface ServiceRow {
  host: string;
  binary: string;
  state: string;
  status: string;
}

/** Nova's services (`GET /os-services`): every nova-compute, nova-conductor and nova-scheduler. */
export async function novaServices(token: string): Promise<ServiceRow[]> {
  const answer = await rest(`${NOVA_URL}/os-services`, { token });
  return (answer.body as { services: ServiceRow[] }).services;
}

/** Hypervisor names Nova lists (`GET /os-hypervisors`): only computes already mapped into a cell. */
export async function hypervisorNames(token: string): Promise<string[]> {
  const answer = await rest(`${NOVA_URL}/os-hypervisors`, { token });
  return (answer.body as { hypervisors: { hypervisor_hostname: string }[] }).hypervisors.map(
    (h) => h.hypervisor_hostname,
  );
}

/**
 * Waits until Nova lists nova-conductor and nova-scheduler up, and every host's nova-compute up
 * and enabled (each service's record is refreshed every report_interval, 10 s).
 */
export async function waitComputesUp(
  token: string,
  hosts: readonly string[],
  timeoutMs = COMPUTES_UP_TIMEOUT_MS,
): Promise<void> {
  const started = Date.now();
  let last = "";
  while (Date.now() - started < timeoutMs) {
    const services = await novaServices(token);
    const up = (binary: string, host?: string) =>
      services.some(
        (s) =>
          s.binary === binary &&
          (host === undefined || s.host === host) &&
          s.state === "up" &&
          s.status === "enabled",
      );
    if (up("nova-conductor") && up("nova-scheduler") && hosts.every((h) => up("nova-compute", h))) return;
    last = JSON.stringify(services.map((s) => `${s.binary}@${s.host}:${s.state}/${s.status}`));
    await sleep(POLL_INTERVAL_MS);
  }
  throw new LabError(
    "LAB_TIMEOUT",
    `Nova did not list its services up within ${timeoutMs} ms (services ${last}) — see <state dir>/openstack/log and /var/log/nova/nova-compute.log in each host (<state dir>/cmpN/fs/var-log-nova/)`,
  );
}

/**
 * Maps the computes into cell1 (`discover`, i.e. `nova-manage cell_v2 discover_hosts`) until Nova
 * lists a hypervisor for each: a compute's node record appears with its first resource update,
 * seconds after its service, and discover_hosts maps only nodes that exist.
 */
export async function mapComputes(
  token: string,
  hosts: readonly string[],
  discover: () => Promise<unknown>,
  timeoutMs = COMPUTES_UP_TIMEOUT_MS,
): Promise<void> {
  const started = Date.now();
  let listed: string[] = [];
  while (Date.now() - started < timeoutMs) {
    await discover();
    listed = await hypervisorNames(token);
    if (hosts.every((h) => listed.includes(h))) return;
    await sleep(POLL_INTERVAL_MS);
  }
  throw new LabError(
    "LAB_TIMEOUT",
    `Nova did not list a hypervisor for every host within ${timeoutMs} ms (it lists ${JSON.stringify(listed)}) — look for "Error updating resources" in each host's /var/log/nova/nova-compute.log`,
  );
}

/** Creates an image record and uploads its data; returns its id. */
async function image(token: string, fields: Record<string, unknown>, data: Uint8Array): Promise<string> {
  const created = await rest(`${GLANCE_URL}/v2/images`, { token, body: { visibility: "public", ...fields } });
  const id = (created.body as { id?: unknown }).id;
  if (typeof id !== "string")
    throw new LabError("LAB_COMMAND_FAILED", `Glance created no image id: ${JSON.stringify(created.body)}`);
  await rest(`${GLANCE_URL}/v2/images/${id}/file`, { token, method: "PUT", bytes: data });
  const after = (await rest(`${GLANCE_URL}/v2/images/${id}`, { token })).body as { status?: string };
  if (after.status !== "active") {
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `Glance image ${String(fields.name)} is ${after.status} after upload, not active`,
    );
  }
  return id;
}

export interface LabImages {
  /** Image name → id of the bootable (root disk) image. */
  bootable: Record<string, string>;
  /** Image name → id of its kernel image. */
  kernels: Record<string, string>;
}

/**
 * Builds the dirty and the calm guest from the lab's spin count, uploads both (kernel + root disk
 * each) and returns their ids.
 */
export async function uploadGuestImages(
  token: string,
  guestDir: string,
  spinIterations: number,
): Promise<LabImages> {
  const dirtySpinIterations = Math.max(1, Math.round(spinIterations / DIRTY_SPIN_DIVISOR));
  const dirtyKernelPath = await buildGuest(
    join(guestDir, `spin-${dirtySpinIterations}`),
    dirtySpinIterations,
  );
  const calmSpin = spinIterations * CALM_SPIN_FACTOR;
  const calmKernelPath = await buildGuest(join(guestDir, `spin-${calmSpin}`), calmSpin);
  const images: LabImages = { bootable: {}, kernels: {} };
  const zeros = new Uint8Array(ROOT_DISK_BYTES);
  for (const [name, kernelPath, spin] of [
    [DIRTY_IMAGE_NAME, dirtyKernelPath, dirtySpinIterations],
    [CALM_IMAGE_NAME, calmKernelPath, calmSpin],
  ] as const) {
    const kernelId = await image(
      token,
      {
        name: `${name}-kernel`,
        // Not `aki`: see KERNEL_DISK_FORMAT.
        disk_format: KERNEL_DISK_FORMAT,
        container_format: "bare",
        migbot_spin_iterations: String(spin),
      },
      readFileSync(kernelPath),
    );
    images.kernels[name] = kernelId;
    images.bootable[name] = await image(
      token,
      {
        name,
        disk_format: "raw",
        container_format: "bare",
        kernel_id: kernelId,
        migbot_spin_iterations: String(spin),
      },
      zeros,
    );
  }
  return images;
}

/** The lab flavor (admin-only call). */
export async function createFlavor(token: string): Promise<string> {
  const answer = await rest(`${NOVA_URL}/flavors`, {
    token,
    body: {
      flavor: {
        id: LAB_FLAVOR.id,
        name: LAB_FLAVOR.name,
        ram: LAB_FLAVOR.ramMb,
        vcpus: LAB_FLAVOR.vcpus,
        disk: LAB_FLAVOR.diskGb,
      },
    },
  });
  return createdId(answer, "flavor");
}
