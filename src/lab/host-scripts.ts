/**
 * The programs a lab host answers with where a real compute host has systemd, nova-compute and
 * virsh. They live in `<stateDir>/sbin`, bind-mounted over `/usr/local/sbin` inside every host —
 * first in the PATH sshd gives root — so the bot's catalogue commands reach them unchanged:
 *
 * - `systemctl is-active|start|stop|restart|status nova-compute` drives the host's nova-compute
 *   agent (`agent-main.ts`) by its PID file, with systemd's words and exit statuses (`Type=simple`:
 *   restart returns at once; a config the agent cannot load leaves the unit `failed`);
 * - `nova-compute --version` prints the host's release (on stderr for Mitaka's Python 2.7 argparse);
 * - `virsh` is the real virsh, except `cpu-compare` and `capabilities`, which answer for the host's
 *   declared CPU (`declared-cpu.ts`).
 */
import { fileURLToPath } from "node:url";
import { shellQuote } from "../hosts/catalogue";
import { NOVA_VERSIONS, REAL_VIRSH } from "./agent";
import { agentPidPath, agentUnitStatePath } from "./agent-protocol";

/** Where the scripts appear inside each host. */
export const HOST_SCRIPTS_TARGET = "/usr/local/sbin";
const HOST_SCRIPTS_TARGET_DIR = HOST_SCRIPTS_TARGET;
/** After SIGTERM, how long `systemctl stop` waits for the agent (tenths of a second) before SIGKILL. */
const STOP_WAIT_TENTHS = 100;

export interface HostScriptContext {
  stateDir: string;
  /** Host name → release (`mitaka`, `zed`). */
  releases: Record<string, string>;
  /** Absolute path of node. @defaultValue process.execPath */
  nodePath?: string;
  /**
   * Openstack mode: `systemctl` drives the real nova-compute (Debian's entry point, copied to
   * /usr/local/sbin/nova-compute in every host) as Debian's Type=notify unit, through this starter.
   */
  openstack?: { notifyStartPath: string };
}

/** Debian's nova-compute.service: TimeoutStopSec=15 (in tenths of a second, as the script counts). */
const DEBIAN_NOVA_COMPUTE_STOP_WAIT_TENTHS = 150;
/** Where a real nova-compute's entry point sits inside each host (openstack mode). */
export const REAL_NOVA_COMPUTE_PATH = `${HOST_SCRIPTS_TARGET_DIR}/nova-compute`;

/**
 * How the real nova-compute starts: `ExecStart=/etc/init.d/nova-compute systemd-start` of Debian's
 * unit, which runs `nova-compute --config-file=/etc/nova/nova.conf` plus nova-compute.conf when
 * present, and `--log-file=/var/log/nova/nova-compute.log` (openstack-pkg-tools' init template, in
 * nova-compute 2:26.2.2-1~deb12u5's /etc/init.d/nova-compute).
 */
function realNovaStart(ctx: HostScriptContext & { openstack: { notifyStartPath: string } }): string {
  return `nova_start() {
  agent_pid >/dev/null && return 0
  mkdir -p /var/log/nova /var/lib/nova
  set -- --config-file=/etc/nova/nova.conf
  [ -f /etc/nova/nova-compute.conf ] && set -- "$@" --config-file=/etc/nova/nova-compute.conf
  echo active > "$unit_file"
  # Type=notify: start returns once nova-compute says READY=1, or fails like systemd does.
  if ! /usr/bin/python3 ${shellQuote(ctx.openstack.notifyStartPath)} "$pid_file" "${ctx.stateDir}/$host/nova-compute.out" \
    /usr/bin/python3 ${REAL_NOVA_COMPUTE_PATH} "$@" --log-file=/var/log/nova/nova-compute.log; then
    echo failed > "$unit_file"
    echo "Job for nova-compute.service failed because the control process exited with error code." >&2
    echo "See "systemctl status nova-compute.service" and /var/log/nova/nova-compute.log for details." >&2
    return 1
  fi
}`;
}

const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));

function tsxLoader(): string {
  return import.meta.resolve("tsx");
}

/** `node --import tsx <entry>` as a shell-quoted command prefix. */
function nodeCommand(ctx: HostScriptContext, entry: string): string {
  return [ctx.nodePath ?? process.execPath, "--import", tsxLoader(), `${PROJECT_ROOT}src/lab/${entry}`]
    .map(shellQuote)
    .join(" ");
}

/** `/usr/local/sbin/systemctl` inside the hosts. */
export function renderSystemctl(ctx: HostScriptContext): string {
  const pidFile = agentPidPath(ctx.stateDir, "$host");
  const unitFile = agentUnitStatePath(ctx.stateDir, "$host");
  const libvirtdPid = `${ctx.stateDir}/$host/libvirtd.pid`;
  const real = ctx.openstack !== undefined;
  // The real service's command line names its entry point; the agent's names agent-main.
  const processMark = real ? REAL_NOVA_COMPUTE_PATH : "agent-main";
  const stopWaitTenths = real ? DEBIAN_NOVA_COMPUTE_STOP_WAIT_TENTHS : STOP_WAIT_TENTHS;
  const description = real ? "OpenStack Nova Compute (nova-compute)" : "OpenStack Compute (migbot lab agent)";
  const novaStart = ctx.openstack
    ? realNovaStart({ ...ctx, openstack: ctx.openstack })
    : `nova_start() {
  agent_pid >/dev/null && return 0
  mkdir -p /var/log/nova
  echo active > "$unit_file"
  # Type=simple: systemd reports the unit started as soon as the process runs.
  setsid ${nodeCommand(ctx, "agent-main.ts")} --host "$host" --state-dir ${shellQuote(ctx.stateDir)} --release "$release" \\
    </dev/null >>"${ctx.stateDir}/$host/nova-compute.out" 2>&1 &
  echo $! > "$pid_file"
}`;
  const releases = Object.entries(ctx.releases)
    .map(([host, release]) => `  ${host}) release=${release} ;;`)
    .join("\n");
  return `#!/bin/sh
# migbot lab: systemctl for this host's ${real ? "real nova-compute" : "nova-compute agent"} and libvirtd (see docs/lab.md).
host=$(hostname)
case "$host" in
${releases}
  *) echo "systemctl (migbot lab): unknown host $host" >&2; exit 1 ;;
esac
pid_file="${pidFile}"
unit_file="${unitFile}"

agent_pid() {
  [ -f "$pid_file" ] || return 1
  pid=$(cat "$pid_file")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  grep -q ${processMark} "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

nova_state() {
  if [ "$(cat "$unit_file" 2>/dev/null)" = failed ]; then echo failed; return; fi
  if agent_pid >/dev/null; then echo active; return; fi
  case "$(cat "$unit_file" 2>/dev/null)" in
    active) echo failed ;;
    *) echo inactive ;;
  esac
}

${novaStart}

nova_stop() {
  pid=$(agent_pid) || { [ "$(cat "$unit_file" 2>/dev/null)" = failed ] || echo inactive > "$unit_file"; return 0; }
  kill -TERM "$pid" 2>/dev/null
  i=0
  # A zombie (PID 1 here reaps late) has an empty cmdline: it counts as stopped.
  while grep -q ${processMark} "/proc/$pid/cmdline" 2>/dev/null && [ $i -lt ${stopWaitTenths} ]; do sleep 0.1; i=$((i + 1)); done
  grep -q ${processMark} "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  echo inactive > "$unit_file"
}

verb=$1
unit=\${2%.service}
case "$unit" in
  nova-compute)
    case "$verb" in
      is-active) s=$(nova_state); echo "$s"; [ "$s" = active ] && exit 0 || exit 3 ;;
      start) nova_start || exit 1 ;;
      stop) nova_stop ;;
      restart) nova_stop; nova_start || exit 1 ;;
      status)
        s=$(nova_state)
        echo "* nova-compute.service - ${description}"
        echo "     Active: $s"
        [ "$s" = active ] && echo "   Main PID: $(agent_pid)"
        [ "$s" = active ] && exit 0 || exit 3 ;;
      *) echo "systemctl (migbot lab): '$verb' is not supported for nova-compute" >&2; exit 1 ;;
    esac ;;
  libvirtd)
    lpid=$(cat "${libvirtdPid}" 2>/dev/null)
    if [ -n "$lpid" ] && kill -0 "$lpid" 2>/dev/null; then s=active; else s=inactive; fi
    case "$verb" in
      is-active) echo "$s"; [ "$s" = active ] && exit 0 || exit 3 ;;
      *) echo "Failed to $verb libvirtd.service: the lab's libvirtd is managed by 'migbot lab'" >&2; exit 1 ;;
    esac ;;
  *)
    case "$verb" in
      is-active) echo inactive; exit 3 ;;
      *) echo "Failed to $verb $unit.service: Unit $unit.service not found." >&2; exit 5 ;;
    esac ;;
esac
exit 0
`;
}

/** `/usr/local/sbin/nova-compute` inside the hosts: `--version` as each release prints it. */
export function renderNovaCompute(ctx: HostScriptContext): string {
  const cases = Object.entries(ctx.releases)
    .map(([host, release]) => {
      const version = NOVA_VERSIONS[release] ?? "0.0.0";
      // Mitaka's nova runs on Python 2.7, whose argparse prints --version on stderr.
      const print = release === "mitaka" ? `echo ${version} >&2` : `echo ${version}`;
      return `  ${host}) ${print} ;;`;
    })
    .join("\n");
  return `#!/bin/sh
# migbot lab: nova-compute --version for this host's release; the service itself runs via systemctl.
if [ "$1" = --version ]; then
  case "$(hostname)" in
${cases}
  *) echo "nova-compute (migbot lab): unknown host" >&2; exit 1 ;;
  esac
  exit 0
fi
echo "nova-compute (migbot lab): start it with 'systemctl start nova-compute'" >&2
exit 2
`;
}

/** `/usr/local/sbin/virsh` inside the hosts: the declared CPU for cpu-compare and capabilities. */
export function renderVirsh(ctx: HostScriptContext): string {
  return `#!/bin/sh
# migbot lab: real virsh, except that cpu-compare and capabilities answer for this host's declared
# CPU (all lab hosts share one physical CPU; see docs/lab.md).
sub=""
skip=0
for a in "$@"; do
  if [ $skip = 1 ]; then skip=0; continue; fi
  case "$a" in
    -c|--connect) skip=1 ;;
    -*) ;;
    *) sub=$a; break ;;
  esac
done
case "$sub" in
  cpu-compare|capabilities)
    exec env MIGBOT_LAB_STATE_DIR=${shellQuote(ctx.stateDir)} ${nodeCommand(ctx, "virsh-declared.ts")} "$@" ;;
esac
exec ${REAL_VIRSH} "$@"
`;
}

/** All scripts, by file name (openstack mode: the real nova-compute entry point is copied in instead). */
export function renderHostScripts(ctx: HostScriptContext): Record<string, string> {
  return {
    systemctl: renderSystemctl(ctx),
    ...(ctx.openstack ? {} : { "nova-compute": renderNovaCompute(ctx) }),
    virsh: renderVirsh(ctx),
  };
}
