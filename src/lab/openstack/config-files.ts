/**
 * Every config file of the lab's real OpenStack Zed, as pure functions: keystone.conf,
 * placement.conf, glance-api.conf, neutron.conf + ml2_conf.ini, the control plane's nova.conf, each
 * host's /etc/nova/nova.conf, RabbitMQ's two files and MariaDB's first SQL. Option names are Zed's
 * (keystone 22, placement 8, glance 25, neutron 21, nova 26), as the install guides of that release
 * and ../../../../shared/OPENSTACK-LAB.md use them.
 */
import { join } from "node:path";
import { type LabHostPlan, zedLibvirtSection } from "../plan";
import {
  AUTH_URL,
  CLOUD_NAME,
  CONTROL_ADDRESS,
  DATABASES,
  databaseUrl,
  KEYSTONE_URL,
  type OpenStackLayout,
  type OpenStackSecrets,
  PORTS,
  REGION,
  type ServiceUser,
  transportUrl,
} from "./layout";

function ini(sections: Record<string, Record<string, string | number | boolean>>, header: string): string {
  const out = [`# ${header} (migbot lab, written by \`lab up --openstack\`)`];
  for (const [name, options] of Object.entries(sections)) {
    out.push("", `[${name}]`);
    for (const [key, value] of Object.entries(options)) out.push(`${key} = ${String(value)}`);
  }
  return `${out.join("\n")}\n`;
}

/** keystonemiddleware's password auth for one service user in project `service`. */
function serviceAuth(secrets: OpenStackSecrets, user: ServiceUser): Record<string, string> {
  return {
    auth_url: KEYSTONE_URL,
    auth_type: "password",
    project_domain_name: "Default",
    user_domain_name: "Default",
    project_name: "service",
    username: user,
    password: secrets.service[user],
  };
}

function authtoken(secrets: OpenStackSecrets, user: ServiceUser): Record<string, string> {
  return { www_authenticate_uri: KEYSTONE_URL, ...serviceAuth(secrets, user) };
}

/** One log file per service in the control plane's log folder. */
function logging(layout: OpenStackLayout, file: string): Record<string, string | boolean> {
  return { log_dir: layout.logDir, log_file: file, debug: false };
}

export function renderKeystoneConf(layout: OpenStackLayout, secrets: OpenStackSecrets): string {
  const keys = join(layout.keystoneDir, "fernet-keys");
  return ini(
    {
      DEFAULT: logging(layout, "keystone.log"),
      database: { connection: databaseUrl(secrets, "keystone") },
      token: { provider: "fernet" },
      fernet_tokens: { key_repository: keys },
      fernet_receipts: { key_repository: keys },
      credential: { key_repository: join(layout.keystoneDir, "credential-keys") },
    },
    "keystone.conf",
  );
}

export function renderPlacementConf(layout: OpenStackLayout, secrets: OpenStackSecrets): string {
  return ini(
    {
      DEFAULT: logging(layout, "placement-api.log"),
      placement_database: { connection: databaseUrl(secrets, "placement") },
      api: { auth_strategy: "keystone" },
      keystone_authtoken: authtoken(secrets, "placement"),
    },
    "placement.conf",
  );
}

export function renderGlanceApiConf(layout: OpenStackLayout, secrets: OpenStackSecrets): string {
  return ini(
    {
      DEFAULT: {
        ...logging(layout, "glance-api.log"),
        bind_host: CONTROL_ADDRESS,
        bind_port: PORTS.glance,
        workers: 1,
        enabled_backends: "file:file",
        transport_url: transportUrl(secrets),
      },
      database: { connection: databaseUrl(secrets, "glance") },
      keystone_authtoken: authtoken(secrets, "glance"),
      paste_deploy: { flavor: "keystone", config_file: join(layout.etc("glance"), "glance-api-paste.ini") },
      glance_store: { default_backend: "file" },
      file: { filesystem_store_datadir: layout.glanceImagesDir },
      oslo_concurrency: { lock_path: join(layout.dir, "glance", "lock") },
      oslo_messaging_notifications: { driver: "noop" },
    },
    "glance-api.conf",
  );
}

/**
 * neutron-server alone (no agents): ML2 with only flat networks and no mechanism driver, as
 * OPENSTACK-LAB.md ran it. Nova needs the network endpoint even for servers booted with
 * `networks: none` (its server view asks Neutron for security groups).
 */
export function renderNeutronConf(layout: OpenStackLayout, secrets: OpenStackSecrets): string {
  return ini(
    {
      DEFAULT: {
        ...logging(layout, "neutron-server.log"),
        core_plugin: "ml2",
        service_plugins: "",
        auth_strategy: "keystone",
        transport_url: transportUrl(secrets),
        bind_host: CONTROL_ADDRESS,
        bind_port: PORTS.neutron,
        api_workers: 1,
        rpc_workers: 1,
        rpc_state_report_workers: 1,
        notify_nova_on_port_status_changes: false,
        notify_nova_on_port_data_changes: false,
        api_paste_config: join(layout.etc("neutron"), "api-paste.ini"),
        state_path: layout.neutronStateDir,
      },
      database: { connection: databaseUrl(secrets, "neutron") },
      keystone_authtoken: authtoken(secrets, "neutron"),
      oslo_concurrency: { lock_path: join(layout.neutronStateDir, "lock") },
      oslo_messaging_notifications: { driver: "noop" },
    },
    "neutron.conf",
  );
}

export function renderMl2Conf(): string {
  return ini(
    {
      ml2: {
        type_drivers: "flat",
        tenant_network_types: "",
        mechanism_drivers: "",
        extension_drivers: "port_security",
      },
    },
    "ml2_conf.ini",
  );
}

/**
 * What every nova service needs to reach the others: the message queue, Keystone (incoming tokens
 * and the service token nova sends along, `send_service_user_token`), Placement and Neutron. Without
 * `[neutron]`, a live migration fails in the conductor with `Unknown auth type: None` and leaves the
 * instance in ERROR (OPENSTACK-LAB.md).
 */
function novaCommonSections(
  secrets: OpenStackSecrets,
): Record<string, Record<string, string | number | boolean>> {
  return {
    keystone_authtoken: authtoken(secrets, "nova"),
    service_user: { send_service_user_token: true, ...serviceAuth(secrets, "nova") },
    placement: { region_name: REGION, ...serviceAuth(secrets, "placement") },
    neutron: { region_name: REGION, ...serviceAuth(secrets, "neutron") },
    vnc: { enabled: false },
    spice: { enabled: false },
    oslo_messaging_notifications: { driver: "noop" },
  };
}

/** nova.conf of nova-api, nova-conductor and nova-scheduler (and nova-manage). */
export function renderNovaControlConf(layout: OpenStackLayout, secrets: OpenStackSecrets): string {
  return ini(
    {
      DEFAULT: {
        debug: false,
        transport_url: transportUrl(secrets),
        my_ip: CONTROL_ADDRESS,
        state_path: layout.novaStateDir,
      },
      api: { auth_strategy: "keystone" },
      api_database: { connection: databaseUrl(secrets, "nova_api") },
      database: { connection: databaseUrl(secrets, "nova") },
      conductor: { workers: 1 },
      scheduler: { workers: 1 },
      oslo_concurrency: { lock_path: join(layout.novaStateDir, "tmp") },
      wsgi: { api_paste_config: join(layout.etc("nova"), "api-paste.ini") },
      ...novaCommonSections(secrets),
    },
    "nova.conf of the control plane",
  );
}

/**
 * A lab host's /etc/nova/nova.conf for the real nova-compute: its own `host`, `my_ip`, state and
 * instance folders (bind-mounted per host) and the same Newton-and-later live-migration settings
 * as the lab's other Zed hosts (`zedLibvirtSection`): qemu+ssh between hosts, migration data to the
 * destination's lab address.
 */
export function renderComputeNovaConf(host: LabHostPlan, secrets: OpenStackSecrets): string {
  const common = novaCommonSections(secrets);
  const lines = [
    `# nova.conf of ${host.name} (migbot lab, real nova-compute 26.2.2): Newton-and-later live-migration settings`,
    "[DEFAULT]",
    `host = ${host.name}`,
    `my_ip = ${host.address}`,
    "compute_driver = libvirt.LibvirtDriver",
    "state_path = /var/lib/nova",
    "instances_path = /var/lib/nova/instances",
    "log_dir = /var/log/nova",
    `transport_url = ${transportUrl(secrets)}`,
    "",
    ...zedLibvirtSection(host),
    "connection_uri = qemu:///system",
    "",
    "[oslo_concurrency]",
    "lock_path = /var/lib/nova/tmp",
  ];
  for (const [name, options] of Object.entries(common)) {
    lines.push("", `[${name}]`);
    for (const [key, value] of Object.entries(options)) lines.push(`${key} = ${String(value)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** rabbitmq.conf: one listener on the bridge address and the `openstack` account, made at first boot. */
export function renderRabbitmqConf(secrets: OpenStackSecrets): string {
  return [
    "# rabbitmq.conf (migbot lab)",
    `listeners.tcp.default = ${CONTROL_ADDRESS}:${PORTS.amqp}`,
    "default_user = openstack",
    `default_pass = ${secrets.rabbit}`,
    "default_vhost = /",
    "loopback_users = none",
    "disk_free_limit.absolute = 50MB",
    "",
  ].join("\n");
}

/**
 * rabbitmq-env.conf: node name, addresses and every folder inside the state dir, so nothing is
 * written to /var/lib/rabbitmq or /var/log/rabbitmq. The Erlang distribution listens on the bridge
 * address at a fixed port; epmd is started by `up` itself (see control-plane.ts).
 */
export function renderRabbitmqEnv(layout: OpenStackLayout): string {
  const d = layout.rabbitDir;
  const inet = `{${CONTROL_ADDRESS.split(".").join(",")}}`;
  return [
    "# rabbitmq-env.conf (migbot lab)",
    "NODENAME=rabbit@localhost",
    `NODE_IP_ADDRESS=${CONTROL_ADDRESS}`,
    `NODE_PORT=${PORTS.amqp}`,
    `MNESIA_BASE=${join(d, "mnesia")}`,
    `LOG_BASE=${layout.logDir}`,
    `ENABLED_PLUGINS_FILE=${join(d, "enabled_plugins")}`,
    `CONFIG_FILE=${join(d, "rabbitmq")}`,
    `ADVANCED_CONFIG_FILE=${join(d, "advanced.config")}`,
    `SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface ${inet} -kernel inet_dist_listen_min ${PORTS.erlangDistribution} -kernel inet_dist_listen_max ${PORTS.erlangDistribution}"`,
    "",
  ].join("\n");
}

/** The SQL run once on the fresh MariaDB: every database and its account (reachable over TCP). */
export function renderDatabaseSql(secrets: OpenStackSecrets): string {
  const lines: string[] = [];
  const users = new Set<string>();
  for (const { name, user } of DATABASES) {
    lines.push(`CREATE DATABASE \`${name}\`;`);
    if (!users.has(user)) {
      users.add(user);
      lines.push(`CREATE USER '${user}'@'%' IDENTIFIED BY '${secrets.db[user]}';`);
    }
    lines.push(`GRANT ALL PRIVILEGES ON \`${name}\`.* TO '${user}'@'%';`);
  }
  lines.push("FLUSH PRIVILEGES;");
  return `${lines.join("\n")}\n`;
}

/** clouds.yaml for the bot and the `openstack` CLI: the admin user, project admin, public interface. */
export function renderCloudsYaml(secrets: OpenStackSecrets): string {
  return [
    "# migbot lab: real OpenStack Zed, written by `lab up --openstack`; valid until `lab down`.",
    "clouds:",
    `  ${CLOUD_NAME}:`,
    "    auth:",
    `      auth_url: ${AUTH_URL}`,
    "      username: admin",
    `      password: ${secrets.admin}`,
    "      project_name: admin",
    "      user_domain_name: Default",
    "      project_domain_name: Default",
    `    region_name: ${REGION}`,
    "    interface: public",
    "    identity_api_version: 3",
    "",
  ].join("\n");
}
