/**
 * Where the real OpenStack control plane of `lab up --openstack` lives and listens, as pure
 * functions of the lab's plan: addresses, ports, folders, service accounts. Nothing here touches
 * the machine.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { LAB_BRIDGE_ADDRESS, type LabPlan } from "../plan";

/** Where src/lab/openstack/install.sh unpacks the service packages' entry points and /etc files. */
export const DEFAULT_OPENSTACK_ROOT = "/opt/migbot-openstack-zed";
/** Every control-plane service listens on the root namespace's end of the lab bridge. */
export const CONTROL_ADDRESS = LAB_BRIDGE_ADDRESS;
/** Keystone's bootstrap region; the only one. */
export const REGION = "RegionOne";
/** The cloud's name in the clouds.yaml `up --openstack` writes. */
export const CLOUD_NAME = "migbot-lab";
/** Nova's instance flavor for the lab guest: 128 MiB, 1 vCPU, 1 GiB root disk (the guest's 32 MiB working set fits). */
export const LAB_FLAVOR = {
  id: "migbot-tiny",
  name: "migbot.tiny",
  ramMb: 128,
  vcpus: 1,
  diskGb: 1,
} as const;
/** The dirty guest's images in Glance (kernel `aki` + root disk `raw` with `kernel_id`). */
export const DIRTY_IMAGE_NAME = "migbot-dirty";
/** The same guest spinning far longer per page: converges at the lab's 8 MiB/s. */
export const CALM_IMAGE_NAME = "migbot-calm";
/** The calm guest's spin factor over the lab's default spin (as the lab data plane's `calm-1`). */
export const CALM_SPIN_FACTOR = 16;
/**
 * The dirty image spins this many times less per page than the lab's default guest. Under real
 * Nova on a shared 2-core machine the default guest dirtied only ~6 MiB/s with a whole core (its
 * rate follows the CPU time it gets): below the 8 MiB/s link, so real Nova moved it in ~15 s with
 * no auto-converge at all. A quarter of the spin gave ~23 MiB/s, which rewrites the 32 MiB working
 * set within every pre-copy pass: the migration then never converges (real Nova aborts it at its
 * completion timeout) until auto-converge throttles the vCPU (all measured in this lab).
 */
export const DIRTY_SPIN_DIVISOR = 4;
/** Size of the (empty) raw root disk the guest images carry: the guest runs from its kernel. */
export const ROOT_DISK_BYTES = 1024 * 1024;

/**
 * The services' ports: each project's registered default (keystone 5000, placement 8778, glance
 * 9292, neutron 9696, nova 8774; MariaDB 3306, AMQP 5672, epmd 4369, Erlang distribution 25672).
 */
export const PORTS = {
  mariadb: 3306,
  amqp: 5672,
  epmd: 4369,
  erlangDistribution: 25672,
  keystone: 5000,
  placement: 8778,
  glance: 9292,
  neutron: 9696,
  nova: 8774,
} as const;

/** Service users Keystone gets (project `service`), one per service that authenticates to others. */
export const SERVICE_USERS = ["nova", "placement", "glance", "neutron"] as const;
export type ServiceUser = (typeof SERVICE_USERS)[number];

/** The MariaDB databases and the account each one belongs to. */
export const DATABASES: readonly { name: string; user: string }[] = [
  { name: "keystone", user: "keystone" },
  { name: "placement", user: "placement" },
  { name: "glance", user: "glance" },
  { name: "neutron", user: "neutron" },
  { name: "nova_api", user: "nova" },
  { name: "nova", user: "nova" },
  { name: "nova_cell0", user: "nova" },
];

/** Catalog entries: service type, name, and the URL every interface (public, internal, admin) gets. */
export function catalogServices(): { type: string; name: string; url: string }[] {
  const base = (port: number) => `http://${CONTROL_ADDRESS}:${port}`;
  return [
    { type: "placement", name: "placement", url: base(PORTS.placement) },
    { type: "image", name: "glance", url: base(PORTS.glance) },
    { type: "network", name: "neutron", url: base(PORTS.neutron) },
    { type: "compute", name: "nova", url: `${base(PORTS.nova)}/v2.1` },
  ];
}

export const KEYSTONE_URL = `http://${CONTROL_ADDRESS}:${PORTS.keystone}`;
export const AUTH_URL = `${KEYSTONE_URL}/v3`;
export const NOVA_URL = `http://${CONTROL_ADDRESS}:${PORTS.nova}/v2.1`;
export const GLANCE_URL = `http://${CONTROL_ADDRESS}:${PORTS.glance}`;
export const NEUTRON_URL = `http://${CONTROL_ADDRESS}:${PORTS.neutron}`;
export const PLACEMENT_URL = `http://${CONTROL_ADDRESS}:${PORTS.placement}`;

/** Passwords of one `up`: random, kept only in the state dir (mode 0600 files). */
export interface OpenStackSecrets {
  admin: string;
  rabbit: string;
  /** Database account → password. */
  db: Record<string, string>;
  /** Keystone service user → password. */
  service: Record<ServiceUser, string>;
}

function password(): string {
  return randomBytes(18).toString("base64url");
}

/** Fresh passwords for every account. */
export function newSecrets(): OpenStackSecrets {
  const db: Record<string, string> = {};
  for (const { user } of DATABASES) db[user] ??= password();
  const service = Object.fromEntries(SERVICE_USERS.map((u) => [u, password()])) as Record<
    ServiceUser,
    string
  >;
  return { admin: password(), rabbit: password(), db, service };
}

export interface OpenStackLayout {
  /** Unpacked entry points (`<root>/usr/bin/nova-compute`, ...) and Debian's /etc files. */
  root: string;
  dir: string;
  etc: (project: string) => string;
  logDir: string;
  mysqlDir: string;
  mysqlSocket: string;
  rabbitDir: string;
  keystoneDir: string;
  glanceImagesDir: string;
  novaStateDir: string;
  neutronStateDir: string;
  secretsPath: string;
  /** The systemd Type=notify stand-in every host's systemctl starts nova-compute with. */
  notifyStartPath: string;
}

/** The control plane's folders inside the lab's state dir. */
export function openStackLayout(
  plan: Pick<LabPlan, "stateDir">,
  root = DEFAULT_OPENSTACK_ROOT,
): OpenStackLayout {
  const dir = join(plan.stateDir, "openstack");
  return {
    root,
    dir,
    etc: (project) => join(dir, "etc", project),
    logDir: join(dir, "log"),
    mysqlDir: join(dir, "mysql"),
    mysqlSocket: join(dir, "mysqld.sock"),
    rabbitDir: join(dir, "rabbitmq"),
    keystoneDir: join(dir, "keystone"),
    glanceImagesDir: join(dir, "glance", "images"),
    novaStateDir: join(dir, "nova"),
    neutronStateDir: join(dir, "neutron"),
    secretsPath: join(dir, "secrets.json"),
    notifyStartPath: join(dir, "notify-start.py"),
  };
}

/** `mysql+pymysql://user:password@10.99.0.1/db` (the password is URL-safe base64). */
export function databaseUrl(secrets: OpenStackSecrets, db: string): string {
  const owner = DATABASES.find((d) => d.name === db);
  if (owner === undefined) throw new Error(`unknown database ${db}`);
  return `mysql+pymysql://${owner.user}:${secrets.db[owner.user]}@${CONTROL_ADDRESS}:${PORTS.mariadb}/${db}`;
}

/** oslo.messaging's RabbitMQ URL. */
export function transportUrl(secrets: OpenStackSecrets): string {
  return `rabbit://openstack:${secrets.rabbit}@${CONTROL_ADDRESS}:${PORTS.amqp}/`;
}
