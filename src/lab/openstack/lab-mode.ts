/**
 * The steps `lab up --openstack` adds to `lab up`, in the order lab.ts calls them: lay out and write
 * the control plane's files and each host's real nova-compute files, start the control plane
 * (alongside the hosts' sshd and libvirtd), start every host's nova-compute with the host's own
 * `systemctl start nova-compute`, then map the computes and load the guest images and flavor.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { agentPidPath } from "../agent-protocol";
import { LabError } from "../errors";
import { runCommand } from "../exec";
import { inHost } from "../host-exec";
import { bindSourceDir, type LabHostPlan, type LabPlan } from "../plan";
import { type LabState, processStartTime, recordProcess, saveState } from "../state";
import { createFlavor, type LabImages, mapComputes, uploadGuestImages, waitComputesUp } from "./cloud-setup";
import { renderCloudsYaml } from "./config-files";
import {
  assertControlPlaneRunning,
  type ControlPlaneContext,
  computeHostFiles,
  discoverHosts,
  openStackMissing,
  startControlPlane,
  writeControlPlaneFiles,
} from "./control-plane";
import {
  AUTH_URL,
  CLOUD_NAME,
  CONTROL_ADDRESS,
  DEFAULT_OPENSTACK_ROOT,
  NOVA_URL,
  newSecrets,
  type OpenStackLayout,
  openStackLayout,
  PORTS,
  REGION,
} from "./layout";

/** The systemd Type=notify stand-in, copied into the state dir at `up`. */
const NOTIFY_START_SOURCE = fileURLToPath(new URL("./notify-start.py", import.meta.url));
/**
 * `systemctl start nova-compute` in a host returns once nova-compute says READY=1 (at most
 * systemd's 90 s start timeout, see notify-start.py); this bounds the call from outside.
 */
const COMPUTE_START_TIMEOUT_MS = 120_000;

/** One `up --openstack` in progress. */
export interface OpenStackRun {
  ctx: ControlPlaneContext;
  /** Resolves to an admin token once the whole control plane answers. */
  controlPlane?: Promise<string>;
}

/** Throws LAB_PROGRAM_MISSING with the install command when a package is missing. */
export function openStackPreflight(root = DEFAULT_OPENSTACK_ROOT): void {
  const missing = openStackMissing(root);
  if (missing !== null) throw new LabError("LAB_PROGRAM_MISSING", missing);
}

/** Lays out the control plane, makes its passwords and writes its files; records the mode in the state. */
export function prepareOpenStack(
  plan: LabPlan,
  state: LabState,
  say: (line: string) => void,
  startedAt: number,
  root = DEFAULT_OPENSTACK_ROOT,
): OpenStackRun {
  const layout = openStackLayout(plan, root);
  const secrets = newSecrets();
  state.openstack = { dir: layout.dir, createdMountPoints: [] };
  saveState(plan.statePath, state);
  writeControlPlaneFiles(layout, secrets, NOTIFY_START_SOURCE);
  return { ctx: { state, statePath: plan.statePath, layout, secrets, say, timings: {}, startedAt } };
}

/** The host's real nova-compute files, written into its /etc overlay and its /usr/local/sbin. */
export function writeComputeHostFiles(run: OpenStackRun, host: LabHostPlan): void {
  const files = computeHostFiles(host, run.ctx.layout, run.ctx.secrets);
  for (const [rel, { text, mode }] of Object.entries(files.etc)) {
    const path = join(host.etcUpperDir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text, { mode });
    chmodSync(path, mode);
  }
  // Debian's nova-common makes these (owned by nova); the host's /var/lib/nova is its own folder.
  for (const dir of ["instances", "tmp"]) {
    mkdirSync(join(bindSourceDir(host.dir, "/var/lib/nova"), dir), { recursive: true });
  }
  for (const [name, text] of Object.entries(files.sbin)) {
    const path = join(bindSourceDir(host.dir, "/usr/local/sbin"), name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text, { mode: 0o755 });
    chmodSync(path, 0o755);
  }
}

/** Creates a bind mount point missing from the root filesystem, remembering it so `down` removes it. */
export function makeMountPoint(state: LabState, target: string): void {
  if (existsSync(target)) return;
  mkdirSync(target, { recursive: true });
  state.openstack?.createdMountPoints.push(target);
}

/** Starts the control plane in the background (it needs only the bridge address). */
export function startOpenStackControlPlane(run: OpenStackRun): void {
  run.controlPlane = startControlPlane(run.ctx);
  // Handled where lab.ts awaits it; marked handled now so an early failure is not "unhandled".
  run.controlPlane.catch(() => {});
}

/** `systemctl start nova-compute` inside the host; returns the real nova-compute's PID. */
async function startCompute(state: LabState, host: LabHostPlan): Promise<number> {
  const result = await runCommand(
    inHost(state, host.name, ["/usr/local/sbin/systemctl", "start", "nova-compute"]),
    {
      timeoutMs: COMPUTE_START_TIMEOUT_MS,
    },
  );
  const log = join(bindSourceDir(host.dir, "/var/log/nova"), "nova-compute.log");
  const tail = (path: string) => {
    try {
      return readFileSync(path, "utf8").trim().split("\n").slice(-5).join("\n");
    } catch {
      return "(none)";
    }
  };
  if (result.code !== 0) {
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `systemctl start nova-compute on ${host.name} failed: ${result.stderr.trim()}\nits log ends:\n${tail(log)}\n${tail(join(host.dir, "nova-compute.out"))}`,
    );
  }
  const pid = Number(readFileSync(agentPidPath(state.stateDir, host.name), "utf8").trim());
  if (processStartTime(pid) === null) {
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `nova-compute on ${host.name} exited after starting; its log ends:\n${tail(log)}`,
    );
  }
  return pid;
}

/**
 * Waits for the control plane, starts every host's nova-compute, waits until Nova lists them up,
 * maps them into cell1, uploads the guest images, creates the flavor and writes clouds.yaml.
 */
export async function finishOpenStack(
  run: OpenStackRun,
  plan: LabPlan,
  state: LabState,
  spinIterations: number,
): Promise<LabImages> {
  const { ctx } = run;
  if (run.controlPlane === undefined) throw new Error("finishOpenStack before startOpenStackControlPlane");
  const token = await run.controlPlane;
  const images = uploadGuestImages(token, plan.guestDir, spinIterations);
  images.catch(() => {});
  const pids = await Promise.all(plan.hosts.map((host) => startCompute(state, host)));
  plan.hosts.forEach((host, i) => {
    state.processes.push(recordProcess("nova-compute", host.name, pids[i]!));
  });
  saveState(plan.statePath, state);
  ctx.timings.computesStarted = Date.now() - ctx.startedAt;
  const names = plan.hosts.map((h) => h.name);
  await waitComputesUp(token, names);
  ctx.timings.computesUp = Date.now() - ctx.startedAt;
  await mapComputes(token, names, () => discoverHosts(ctx));
  ctx.timings.hostsMapped = Date.now() - ctx.startedAt;
  await createFlavor(token);
  const uploaded = await images;
  ctx.timings.imagesAndFlavor = Date.now() - ctx.startedAt;
  assertControlPlaneRunning(ctx);
  const clouds = renderCloudsYaml(ctx.secrets);
  writeFileSync(plan.cloudsYamlPath, clouds, { mode: 0o600 });
  return uploaded;
}

/** Lines `up` prints about the cloud. */
export function describeOpenStack(
  plan: LabPlan,
  layout: OpenStackLayout,
  timings: Record<string, number>,
): string[] {
  return [
    `openstack:    real Zed control plane on ${CONTROL_ADDRESS} (keystone :${PORTS.keystone}, nova :${PORTS.nova}, placement :${PORTS.placement}, glance :${PORTS.glance}, neutron :${PORTS.neutron})`,
    `clouds.yaml:  ${plan.cloudsYamlPath} (cloud ${CLOUD_NAME}, region ${REGION}, interface public, auth ${AUTH_URL})`,
    `compute API:  ${NOVA_URL}`,
    `logs:         ${layout.logDir}; each host's /var/log/nova/nova-compute.log`,
    `try:          OS_CLIENT_CONFIG_FILE=${plan.cloudsYamlPath} openstack --os-cloud ${CLOUD_NAME} compute service list`,
    `timings (ms since up started): ${JSON.stringify(timings)}`,
  ];
}
