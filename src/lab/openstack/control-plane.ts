/**
 * The real OpenStack Zed control plane of `lab up --openstack`, from Debian 12's packages, started
 * by hand (PID 1 here is not systemd) on the bridge address: MariaDB, RabbitMQ (with its own epmd),
 * Keystone, Placement and nova-api under uwsgi, glance-api, neutron-server (no agents),
 * nova-conductor and nova-scheduler. Every process is recorded by PID in the lab's state, so `lab
 * down` stops it like the rest of the lab. The recipe and its pitfalls: ../../../../shared/OPENSTACK-LAB.md.
 */
import { spawn } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { LabError } from "../errors";
import { runCommand, sleep } from "../exec";
import type { LabHostPlan } from "../plan";
import { type ControlPlaneRole, type LabState, processStartTime, saveState } from "../state";
import {
  renderComputeNovaConf,
  renderDatabaseSql,
  renderGlanceApiConf,
  renderKeystoneConf,
  renderMl2Conf,
  renderNeutronConf,
  renderNovaControlConf,
  renderPlacementConf,
  renderRabbitmqConf,
  renderRabbitmqEnv,
} from "./config-files";
import {
  AUTH_URL,
  CONTROL_ADDRESS,
  catalogServices,
  GLANCE_URL,
  KEYSTONE_URL,
  NEUTRON_URL,
  NOVA_URL,
  type OpenStackLayout,
  type OpenStackSecrets,
  PLACEMENT_URL,
  PORTS,
  REGION,
  SERVICE_USERS,
} from "./layout";
import { adminToken, createdId, rest } from "./rest";

/** A `*-manage` command (schema migrations, cell setup) on two busy cores; nova's db sync takes ~15 s. */
const MANAGE_TIMEOUT_MS = 240_000;
/** From spawning mariadbd to it answering on its socket. */
const MARIADB_READY_TIMEOUT_MS = 60_000;
/** RabbitMQ boots in ~4 s idle; much longer while Python services start on the same two cores. */
const RABBITMQ_READY_TIMEOUT_MS = 120_000;
/** From spawning a Python API service to its first HTTP answer (imports take 5-20 s on busy cores). */
const API_READY_TIMEOUT_MS = 180_000;
const READY_POLL_INTERVAL_MS = 500;
/** One readiness probe. */
const PROBE_TIMEOUT_MS = 5_000;
/** Lines of a service's log quoted when it fails to start. */
const LOG_TAIL_LINES = 8;

/** The environment every control-plane process gets: a system PATH (no pyenv shims before /usr/bin/python3). */
export const SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Programs `up --openstack` runs, with the package that installs each (src/lab/openstack/install.sh installs them all). */
const REQUIRED: readonly (readonly [string, string])[] = [
  ["/usr/sbin/mariadbd", "mariadb-server"],
  ["/usr/bin/mariadb-install-db", "mariadb-server"],
  ["/usr/bin/mariadb", "mariadb-client"],
  ["/usr/lib/rabbitmq/bin/rabbitmq-server", "rabbitmq-server"],
  ["/usr/bin/epmd", "erlang-base"],
  ["/usr/bin/uwsgi", "uwsgi-core"],
  ["/usr/lib/uwsgi/plugins/python3_plugin.so", "uwsgi-plugin-python3"],
  ["/usr/bin/keystone-manage", "python3-keystone"],
  ["/usr/bin/keystone-wsgi-public", "python3-keystone"],
  ["/usr/bin/placement-manage", "python3-placement"],
  ["/usr/bin/placement-api", "python3-placement"],
  ["/usr/bin/privsep-helper", "python3-oslo.privsep"],
  ["/usr/lib/python3/dist-packages/nova/__init__.py", "python3-nova"],
  ["/usr/lib/python3/dist-packages/glance/__init__.py", "python3-glance"],
  ["/usr/lib/python3/dist-packages/neutron/__init__.py", "python3-neutron"],
  ["/usr/lib/python3/dist-packages/libvirt.py", "python3-libvirt"],
  ["/usr/lib/python3/dist-packages/pymysql/__init__.py", "python3-pymysql"],
  ["/usr/bin/qemu-img", "qemu-utils"],
  ["/usr/bin/sudo", "sudo"],
];

/** Entry points and files taken from the unpacked service packages (`dpkg-deb -x`), relative to the root. */
const UNPACKED = {
  novaCompute: "usr/bin/nova-compute",
  novaRootwrap: "usr/bin/nova-rootwrap",
  novaApiWsgi: "usr/bin/nova-api-wsgi",
  novaConductor: "usr/bin/nova-conductor",
  novaScheduler: "usr/bin/nova-scheduler",
  novaManage: "usr/bin/nova-manage",
  glanceApi: "usr/bin/glance-api",
  glanceManage: "usr/bin/glance-manage",
  neutronServer: "usr/bin/neutron-server",
  neutronDbManage: "usr/bin/neutron-db-manage",
  novaApiPaste: "usr/share/nova-common/api-paste.ini",
  glanceApiPaste: "usr/share/glance-common/glance-api-paste.ini",
  neutronApiPaste: "usr/share/neutron-common/api-paste.ini",
  novaRootwrapConf: "etc/nova/rootwrap.conf",
  novaComputeFilters: "etc/nova/rootwrap.d/compute.filters",
} as const;

const INSTALL_HINT = "run `bash src/lab/openstack/install.sh` as root (.ci/run does)";

/** Null when everything `up --openstack` runs is installed; else what is missing and how to get it. */
export function openStackMissing(root: string): string | null {
  const missing = REQUIRED.filter(([path]) => !existsSync(path));
  const notUnpacked = Object.values(UNPACKED).filter((rel) => !existsSync(join(root, rel)));
  if (missing.length === 0 && notUnpacked.length === 0) return null;
  const parts: string[] = [];
  if (missing.length > 0) {
    parts.push(
      `missing ${missing.map(([p]) => p).join(", ")} (packages ${[...new Set(missing.map(([, d]) => d))].join(" ")})`,
    );
  }
  if (notUnpacked.length > 0) {
    parts.push(`the service packages' entry points are not unpacked in ${root} (${notUnpacked.join(", ")})`);
  }
  return `${parts.join("; ")} — ${INSTALL_HINT}`;
}

function writeFile(path: string, text: string, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode });
}

function logTail(path: string): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-LOG_TAIL_LINES).join("\n");
  } catch {
    return "(no log)";
  }
}

export interface ControlPlaneContext {
  state: LabState;
  statePath: string;
  layout: OpenStackLayout;
  secrets: OpenStackSecrets;
  say: (line: string) => void;
  /** Milliseconds since `up` started, per milestone. */
  timings: Record<string, number>;
  startedAt: number;
}

function mark(ctx: ControlPlaneContext, milestone: string): void {
  ctx.timings[milestone] = Date.now() - ctx.startedAt;
}

function serviceEnv(ctx: ControlPlaneContext, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: SERVICE_PATH, LANG: "C.UTF-8", HOME: ctx.layout.dir, ...extra };
}

/** Runs a one-shot command (a `*-manage`), throwing with its output unless it exits 0. */
async function manage(
  ctx: ControlPlaneContext,
  what: string,
  argv: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const result = await runCommand(argv, { timeoutMs: MANAGE_TIMEOUT_MS, env: serviceEnv(ctx, env) });
  if (result.code !== 0) {
    const detail = `${result.stderr}\n${result.stdout}`.trim().split("\n").slice(-LOG_TAIL_LINES).join("\n");
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `${what} failed (exit ${result.code ?? result.signal}): ${detail}`,
    );
  }
  return result.stdout;
}

/** Spawns a long-running service in its own session, output to its log, and records its PID. */
function startDaemon(
  ctx: ControlPlaneContext,
  role: ControlPlaneRole,
  argv: string[],
  opts: { env?: Record<string, string>; logName?: string; cwd?: string } = {},
): { pid: number; log: string } {
  const log = join(ctx.layout.logDir, `${opts.logName ?? role}.out`);
  mkdirSync(ctx.layout.logDir, { recursive: true });
  const fd = openSync(log, "a");
  const [program, ...args] = argv;
  const child = spawn(program!, args, {
    detached: true,
    stdio: ["ignore", fd, fd],
    env: serviceEnv(ctx, opts.env),
    cwd: opts.cwd ?? ctx.layout.dir,
  });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined)
    throw new LabError("LAB_COMMAND_FAILED", `could not start ${role} (${program})`);
  const pid = child.pid;
  const start = processStartTime(pid);
  if (start === null) {
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `${role} exited right after starting; ${log} ends:\n${logTail(log)}`,
    );
  }
  ctx.state.processes.push({ role, host: "control", pid, startTime: start });
  saveState(ctx.statePath, ctx.state);
  return { pid, log };
}

async function waitFor(
  what: string,
  timeoutMs: number,
  watch: { pid: number; log: string } | null,
  check: () => Promise<boolean>,
): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (watch !== null && processStartTime(watch.pid) === null) {
      throw new LabError(
        "LAB_COMMAND_FAILED",
        `${what}: the process exited; its log ${watch.log} ends:\n${logTail(watch.log)}`,
      );
    }
    if (await check()) return;
    await sleep(READY_POLL_INTERVAL_MS);
  }
  throw new LabError(
    "LAB_TIMEOUT",
    `${what} did not happen within ${timeoutMs} ms${watch ? `; its log ${watch.log} ends:\n${logTail(watch.log)}` : ""}`,
  );
}

/** True once `url` answers any HTTP status below 500. */
async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await response.arrayBuffer();
    return response.status < 500;
  } catch {
    return false;
  }
}

/** True once a TCP connection to the address opens. */
async function listens(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: CONTROL_ADDRESS, port, timeout: PROBE_TIMEOUT_MS });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("timeout", () => done(false));
    socket.once("error", () => done(false));
  });
}

function python(ctx: ControlPlaneContext, entry: keyof typeof UNPACKED): string[] {
  return ["/usr/bin/python3", join(ctx.layout.root, UNPACKED[entry])];
}

/**
 * uwsgi serving one WSGI entry point, as OPENSTACK-LAB.md found to work, with `Connection: close`
 * (without it, clients that reuse pooled connections got `ConnectionResetError(104)` and
 * nova-conductor `RemoteDisconnected`). Threads per process: see {@link NOVA_API_PROCESSES}.
 */
function uwsgi(name: string, port: number, wsgiFile: string, shape = { processes: 1, threads: 4 }): string[] {
  return [
    "/usr/bin/uwsgi",
    "--plugins",
    "python3",
    "--http-socket",
    `${CONTROL_ADDRESS}:${port}`,
    "--wsgi-file",
    wsgiFile,
    "--master",
    "--processes",
    String(shape.processes),
    "--threads",
    String(shape.threads),
    "--enable-threads",
    "--lazy-apps",
    "--die-on-term",
    "--buffer-size",
    "65535",
    "--add-header",
    "Connection: close",
    "--procname-prefix-spaced",
    name,
  ];
}

/**
 * nova-api runs one thread per uwsgi process. nova/api/openstack/__init__.py (nova 26.2.2) imports
 * nova.monkey_patch, so the app runs on eventlet; oslo.messaging's RPC reply listener is a green
 * thread living in the hub of the uwsgi thread that first made an RPC call. With 4 threads, a
 * synchronous call (e.g. os-migrateLive below 2.34) made from another thread never saw its reply:
 * HTTP 500 `MessagingTimeout` after 60 s although the conductor had answered within a second
 * (seen in this lab). Two processes keep one slow call from blocking every other request.
 */
const NOVA_API_PROCESSES = { processes: 2, threads: 1 };

/** Writes every control-plane config file and copies Debian's paste files next to them. */
export function writeControlPlaneFiles(
  layout: OpenStackLayout,
  secrets: OpenStackSecrets,
  notifyStartSource: string,
): void {
  const etc = layout.etc;
  writeFile(layout.secretsPath, `${JSON.stringify(secrets, null, 2)}\n`);
  writeFile(join(etc("keystone"), "keystone.conf"), renderKeystoneConf(layout, secrets));
  writeFile(join(etc("placement"), "placement.conf"), renderPlacementConf(layout, secrets));
  writeFile(join(etc("glance"), "glance-api.conf"), renderGlanceApiConf(layout, secrets));
  writeFile(join(etc("neutron"), "neutron.conf"), renderNeutronConf(layout, secrets));
  writeFile(join(etc("neutron"), "ml2_conf.ini"), renderMl2Conf());
  writeFile(join(etc("nova"), "nova.conf"), renderNovaControlConf(layout, secrets));
  writeFile(join(layout.rabbitDir, "rabbitmq.conf"), renderRabbitmqConf(secrets));
  writeFile(join(layout.rabbitDir, "rabbitmq-env.conf"), renderRabbitmqEnv(layout));
  writeFile(join(layout.rabbitDir, "enabled_plugins"), "[].\n");
  copyFileSync(join(layout.root, UNPACKED.novaApiPaste), join(etc("nova"), "api-paste.ini"));
  copyFileSync(join(layout.root, UNPACKED.glanceApiPaste), join(etc("glance"), "glance-api-paste.ini"));
  copyFileSync(join(layout.root, UNPACKED.neutronApiPaste), join(etc("neutron"), "api-paste.ini"));
  copyFileSync(notifyStartSource, layout.notifyStartPath);
  for (const dir of [
    layout.logDir,
    layout.mysqlDir,
    join(layout.rabbitDir, "mnesia"),
    layout.keystoneDir,
    layout.glanceImagesDir,
    join(layout.novaStateDir, "tmp"),
    layout.neutronStateDir,
  ]) {
    mkdirSync(dir, { recursive: true });
  }
}

/**
 * Files a lab host needs for the real nova-compute, by destination: its /etc/nova/nova.conf and
 * rootwrap files (into the host's /etc overlay), and Debian's `nova-compute` and `nova-rootwrap`
 * entry points (into its /usr/local/sbin, first in PATH and in sudo's secure_path: privsep starts
 * `sudo nova-rootwrap /etc/nova/rootwrap.conf privsep-helper ...`, Nova's default root helper).
 */
export function computeHostFiles(
  host: LabHostPlan,
  layout: OpenStackLayout,
  secrets: OpenStackSecrets,
): { etc: Record<string, { text: string; mode: number }>; sbin: Record<string, string> } {
  const read = (rel: string) => readFileSync(join(layout.root, rel), "utf8");
  return {
    etc: {
      "nova/nova.conf": { text: renderComputeNovaConf(host, secrets), mode: 0o640 },
      "nova/rootwrap.conf": { text: read(UNPACKED.novaRootwrapConf), mode: 0o644 },
      "nova/rootwrap.d/compute.filters": { text: read(UNPACKED.novaComputeFilters), mode: 0o644 },
    },
    sbin: { "nova-compute": read(UNPACKED.novaCompute), "nova-rootwrap": read(UNPACKED.novaRootwrap) },
  };
}

async function startMariadb(ctx: ControlPlaneContext): Promise<void> {
  const { layout } = ctx;
  await manage(ctx, "mariadb-install-db", [
    "/usr/bin/mariadb-install-db",
    "--no-defaults",
    `--datadir=${layout.mysqlDir}`,
    "--user=root",
    "--auth-root-authentication-method=socket",
    "--skip-test-db",
  ]);
  const watch = startDaemon(ctx, "mariadb", [
    "/usr/sbin/mariadbd",
    "--no-defaults",
    // The state dir is root's (mode 0700): MariaDB runs as root so it can use it.
    "--user=root",
    `--datadir=${layout.mysqlDir}`,
    `--socket=${layout.mysqlSocket}`,
    `--pid-file=${join(layout.dir, "mariadbd.pid")}`,
    `--bind-address=${CONTROL_ADDRESS}`,
    `--port=${PORTS.mariadb}`,
    "--skip-name-resolve",
    "--skip-log-bin",
    "--innodb-buffer-pool-size=64M",
    "--max-connections=500",
    `--log-error=${join(layout.logDir, "mariadb.log")}`,
  ]);
  const client = ["/usr/bin/mariadb", "--no-defaults", "-S", layout.mysqlSocket, "-u", "root"];
  await waitFor("MariaDB answering", MARIADB_READY_TIMEOUT_MS, watch, async () => {
    const r = await runCommand([...client, "-e", "SELECT 1"], { timeoutMs: PROBE_TIMEOUT_MS });
    return r.code === 0;
  });
  const sql = await runCommand(client, {
    timeoutMs: MARIADB_READY_TIMEOUT_MS,
    input: renderDatabaseSql(ctx.secrets),
  });
  if (sql.code !== 0)
    throw new LabError("LAB_COMMAND_FAILED", `creating the databases failed: ${sql.stderr.trim()}`);
  mark(ctx, "mariadb");
}

/** epmd first, in the foreground and recorded (else erl starts one that outlives everything), then RabbitMQ. */
async function startRabbitmq(ctx: ControlPlaneContext): Promise<void> {
  const { layout } = ctx;
  const env = {
    RABBITMQ_CONF_ENV_FILE: join(layout.rabbitDir, "rabbitmq-env.conf"),
    ERL_EPMD_ADDRESS: CONTROL_ADDRESS,
    ERL_EPMD_PORT: String(PORTS.epmd),
    HOME: layout.rabbitDir,
  };
  const epmd = startDaemon(
    ctx,
    "epmd",
    ["/usr/bin/epmd", "-address", CONTROL_ADDRESS, "-port", String(PORTS.epmd)],
    {
      env,
    },
  );
  await waitFor("epmd listening", RABBITMQ_READY_TIMEOUT_MS, epmd, () => listens(PORTS.epmd));
  const watch = startDaemon(ctx, "rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], {
    env,
    cwd: layout.rabbitDir,
  });
  await waitFor("RabbitMQ accepting AMQP", RABBITMQ_READY_TIMEOUT_MS, watch, () => listens(PORTS.amqp));
  mark(ctx, "rabbitmq");
}

async function setUpKeystone(ctx: ControlPlaneContext): Promise<string> {
  const { layout, secrets } = ctx;
  const conf = join(layout.etc("keystone"), "keystone.conf");
  const km = (...args: string[]) => ["/usr/bin/keystone-manage", "--config-file", conf, ...args];
  await manage(ctx, "keystone-manage db_sync", km("db_sync"));
  await manage(
    ctx,
    "keystone-manage fernet_setup",
    km("fernet_setup", "--keystone-user", "root", "--keystone-group", "root"),
  );
  await manage(
    ctx,
    "keystone-manage credential_setup",
    km("credential_setup", "--keystone-user", "root", "--keystone-group", "root"),
  );
  const identity = `${KEYSTONE_URL}/v3/`;
  // The password goes through the environment (OS_BOOTSTRAP_PASSWORD), never a command line.
  await manage(
    ctx,
    "keystone-manage bootstrap",
    km(
      "bootstrap",
      "--bootstrap-admin-url",
      identity,
      "--bootstrap-internal-url",
      identity,
      "--bootstrap-public-url",
      identity,
      "--bootstrap-region-id",
      REGION,
    ),
    { OS_BOOTSTRAP_PASSWORD: secrets.admin },
  );
  mark(ctx, "keystoneBootstrapped");
  const watch = startDaemon(
    ctx,
    "keystone",
    uwsgi("keystone", PORTS.keystone, "/usr/bin/keystone-wsgi-public"),
    {
      env: { OS_KEYSTONE_CONFIG_DIR: layout.etc("keystone") },
    },
  );
  await waitFor("Keystone answering", API_READY_TIMEOUT_MS, watch, () => answers(`${AUTH_URL}/`));
  const token = await adminToken(secrets.admin);
  mark(ctx, "keystoneToken");
  await createCatalog(ctx, token);
  mark(ctx, "catalog");
  return token;
}

/** Project `service`, role `service`, one user per service (admin and service roles), services and endpoints. */
async function createCatalog(ctx: ControlPlaneContext, token: string): Promise<void> {
  const v3 = AUTH_URL;
  const project = createdId(
    await rest(`${v3}/projects`, {
      token,
      body: { project: { name: "service", domain_id: "default", description: "Service project" } },
    }),
    "project",
  );
  const serviceRole = createdId(
    await rest(`${v3}/roles`, { token, body: { role: { name: "service" } } }),
    "role",
  );
  const roles = (await rest(`${v3}/roles?name=admin`, { token })).body as { roles: { id: string }[] };
  const adminRole = roles.roles[0]?.id;
  if (adminRole === undefined)
    throw new LabError("LAB_COMMAND_FAILED", "keystone-manage bootstrap made no admin role");
  for (const name of SERVICE_USERS) {
    const user = createdId(
      await rest(`${v3}/users`, {
        token,
        body: { user: { name, domain_id: "default", password: ctx.secrets.service[name] } },
      }),
      "user",
    );
    for (const role of [adminRole, serviceRole]) {
      await rest(`${v3}/projects/${project}/users/${user}/roles/${role}`, { token, method: "PUT" });
    }
  }
  for (const svc of catalogServices()) {
    const id = createdId(
      await rest(`${v3}/services`, { token, body: { service: { type: svc.type, name: svc.name } } }),
      "service",
    );
    for (const iface of ["public", "internal", "admin"]) {
      await rest(`${v3}/endpoints`, {
        token,
        body: { endpoint: { service_id: id, interface: iface, url: svc.url, region_id: REGION } },
      });
    }
  }
}

async function startPlacement(ctx: ControlPlaneContext): Promise<void> {
  const dir = ctx.layout.etc("placement");
  await manage(ctx, "placement-manage db sync", [
    "/usr/bin/placement-manage",
    "--config-file",
    join(dir, "placement.conf"),
    "db",
    "sync",
  ]);
  const watch = startDaemon(ctx, "placement", uwsgi("placement", PORTS.placement, "/usr/bin/placement-api"), {
    env: { OS_PLACEMENT_CONFIG_DIR: dir },
  });
  await waitFor("Placement answering", API_READY_TIMEOUT_MS, watch, () => answers(`${PLACEMENT_URL}/`));
  mark(ctx, "placement");
}

async function startGlance(ctx: ControlPlaneContext): Promise<void> {
  const conf = join(ctx.layout.etc("glance"), "glance-api.conf");
  await manage(ctx, "glance-manage db_sync", [
    ...python(ctx, "glanceManage"),
    "--config-file",
    conf,
    "db_sync",
  ]);
  const watch = startDaemon(ctx, "glance-api", [...python(ctx, "glanceApi"), "--config-file", conf]);
  await waitFor("Glance answering", API_READY_TIMEOUT_MS, watch, () => answers(`${GLANCE_URL}/`));
  mark(ctx, "glance");
}

async function startNeutron(ctx: ControlPlaneContext, token: Promise<string>): Promise<void> {
  const dir = ctx.layout.etc("neutron");
  const confs = ["--config-file", join(dir, "neutron.conf"), "--config-file", join(dir, "ml2_conf.ini")];
  await manage(ctx, "neutron-db-manage upgrade head", [
    ...python(ctx, "neutronDbManage"),
    ...confs,
    "upgrade",
    "head",
  ]);
  const watch = startDaemon(ctx, "neutron-server", [...python(ctx, "neutronServer"), ...confs]);
  await waitFor("Neutron answering", API_READY_TIMEOUT_MS, watch, () => answers(`${NEUTRON_URL}/`));
  // neutron 21.0.0: a fresh API worker answers its first GET /v2.0/ports with HTTP 500 ("type
  // object 'Port' has no attribute 'port_forwardings'") until another query has run (OPENSTACK-LAB.md).
  const t = await token;
  await rest(`${NEUTRON_URL}/v2.0/networks`, { token: t });
  await rest(`${NEUTRON_URL}/v2.0/ports`, { token: t, ok: () => true });
  mark(ctx, "neutron");
}

/**
 * Nova's databases and cells first; its services only once the catalog is complete: nova-scheduler
 * looks Placement up in the catalog at start and exits (EndpointNotFound) when it is not there yet.
 */
async function startNova(ctx: ControlPlaneContext, catalog: Promise<string>): Promise<void> {
  const dir = ctx.layout.etc("nova");
  const conf = ["--config-file", join(dir, "nova.conf")];
  const nm = (...args: string[]) => [...python(ctx, "novaManage"), ...conf, ...args];
  await manage(ctx, "nova-manage api_db sync", nm("api_db", "sync"));
  await manage(ctx, "nova-manage cell_v2 map_cell0", nm("cell_v2", "map_cell0"));
  await manage(ctx, "nova-manage cell_v2 create_cell", nm("cell_v2", "create_cell", "--name", "cell1"));
  await manage(ctx, "nova-manage db sync", nm("db", "sync"));
  mark(ctx, "novaDatabases");
  await catalog;
  const api = startDaemon(
    ctx,
    "nova-api",
    uwsgi("nova-api", PORTS.nova, join(ctx.layout.root, UNPACKED.novaApiWsgi), NOVA_API_PROCESSES),
    {
      env: { OS_NOVA_CONFIG_DIR: dir },
    },
  );
  startDaemon(ctx, "nova-conductor", [
    ...python(ctx, "novaConductor"),
    ...conf,
    "--log-file",
    join(ctx.layout.logDir, "nova-conductor.log"),
  ]);
  startDaemon(ctx, "nova-scheduler", [
    ...python(ctx, "novaScheduler"),
    ...conf,
    "--log-file",
    join(ctx.layout.logDir, "nova-scheduler.log"),
  ]);
  await waitFor("nova-api answering", API_READY_TIMEOUT_MS, api, () => answers(`${NOVA_URL}/`));
  mark(ctx, "novaApi");
}

/**
 * Starts the whole control plane. MariaDB and RabbitMQ first; then each project's schema
 * migrations and service start run side by side (they only meet through Keystone at request time).
 * Returns an admin token.
 */
export async function startControlPlane(ctx: ControlPlaneContext): Promise<string> {
  const rabbit = startRabbitmq(ctx);
  rabbit.catch(() => {});
  await startMariadb(ctx);
  const keystone = setUpKeystone(ctx);
  // Mark the promise handled at once: a failure is rethrown by Promise.all below.
  keystone.catch(() => {});
  await Promise.all([
    rabbit,
    keystone,
    startPlacement(ctx),
    startGlance(ctx),
    startNeutron(ctx, keystone),
    startNova(ctx, keystone),
  ]);
  ctx.say(
    `migbot lab: OpenStack control plane up on ${CONTROL_ADDRESS} after ${Date.now() - ctx.startedAt} ms`,
  );
  return keystone;
}

/** Throws, quoting its log, when a control-plane process has died since it started. */
export function assertControlPlaneRunning(ctx: ControlPlaneContext): void {
  for (const proc of ctx.state.processes) {
    if (proc.host !== "control" || processStartTime(proc.pid) === proc.startTime) continue;
    const log = join(ctx.layout.logDir, `${proc.role}.out`);
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `${proc.role} (pid ${proc.pid}) has exited; ${log} ends:\n${logTail(log)}\n(the service's own log is beside it)`,
    );
  }
}

/** `nova-manage cell_v2 discover_hosts`: maps the new computes into cell1 so the scheduler can use them. */
export async function discoverHosts(ctx: ControlPlaneContext): Promise<string> {
  const dir = ctx.layout.etc("nova");
  return manage(ctx, "nova-manage cell_v2 discover_hosts", [
    ...python(ctx, "novaManage"),
    "--config-file",
    join(dir, "nova.conf"),
    "cell_v2",
    "discover_hosts",
    "--verbose",
  ]);
}
