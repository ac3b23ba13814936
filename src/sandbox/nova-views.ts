/**
 * Nova's JSON for the sandbox's records, per microversion: a server, a server migration, an
 * os-migrations entry, a hypervisor and a service each carry exactly the fields Nova's API sample
 * for that microversion carries (`../shared/fixtures/nova-api-samples*`), with Nova's timestamp
 * formats and, from 2.53, UUIDs for hypervisor and service ids. Pure: record in, JSON out.
 */
import { createHash } from "node:crypto";
import { atLeast, MV } from "../openstack/microversion";
import { hexId, uuidFrom } from "./api-common";
import type {
  CloudFlavor,
  CloudHypervisor,
  CloudInstanceAction,
  CloudMigration,
  CloudServer,
  CloudService,
} from "./control-plane";
import { isInProgress } from "./nova-records";

/** What links in a view point at. */
export interface NovaLinks {
  /** `http://127.0.0.1:PORT` */
  baseUrl: string;
  /** The project the token is scoped to (links under `/compute/v2.1/<project>/…`). */
  projectId: string;
}

/** Nova's DB timestamps: `2016-01-29T13:42:02.000000`. */
function novaDbTime(iso: string): string {
  return new Date(iso).toISOString().replace(/Z$/, "000");
}

/** Server `created`/`updated`: `2013-09-03T04:01:32Z`. */
function novaServerTime(iso: string): string {
  return new Date(iso).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Nova's `host_status`: DOWN when forced down, UNKNOWN when heartbeats stopped, MAINTENANCE when disabled. */
function hostStatus(host: string, services: readonly CloudService[]): string {
  const service = services.find((s) => s.binary === "nova-compute" && s.host === host);
  if (!service) return "";
  if (service.forcedDown) return "DOWN";
  if (service.state !== "up") return "UNKNOWN";
  if (service.status === "disabled") return "MAINTENANCE";
  return "UP";
}

/**
 * A server (`GET /servers/{id}`, `/servers/detail`).
 * @param services the compute services, for `host_status` (2.16+)
 * @param opts.inList rendered in `/servers/detail` (no `server_groups`)
 */
export function renderServer(
  s: CloudServer,
  mv: string,
  links: NovaLinks,
  services: readonly CloudService[],
  opts: { inList?: boolean } = {},
): Record<string, unknown> {
  const { baseUrl } = links;
  const v = (min: string) => atLeast(mv, min);
  const flavorId = s.flavor.name;
  const o: Record<string, unknown> = {
    "OS-DCF:diskConfig": "AUTO",
    "OS-EXT-AZ:availability_zone": "nova",
    "OS-EXT-SRV-ATTR:host": s.host,
    "OS-EXT-SRV-ATTR:hypervisor_hostname": s.hypervisorHostname,
    "OS-EXT-SRV-ATTR:instance_name": s.instanceName,
  };
  if (v(MV.EXTENDED_SERVER_ATTRS)) {
    Object.assign(o, {
      "OS-EXT-SRV-ATTR:hostname": s.name.toLowerCase().replace(/[^a-z0-9-]+/g, "-"),
      "OS-EXT-SRV-ATTR:kernel_id": "",
      "OS-EXT-SRV-ATTR:launch_index": 0,
      "OS-EXT-SRV-ATTR:ramdisk_id": "",
      "OS-EXT-SRV-ATTR:reservation_id": `r-${hexId(`reservation:${s.id}`).slice(0, 8)}`,
      "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
      "OS-EXT-SRV-ATTR:user_data": null,
    });
  }
  Object.assign(o, {
    "OS-EXT-STS:power_state": s.powerState,
    "OS-EXT-STS:task_state": s.taskState,
    "OS-EXT-STS:vm_state": s.vmState,
    "OS-SRV-USG:launched_at": novaDbTime(s.created),
    "OS-SRV-USG:terminated_at": null,
    accessIPv4: "",
    accessIPv6: "",
    addresses: {},
    config_drive: "",
    created: novaServerTime(s.created),
    flavor: v(MV.EMBEDDED_FLAVOR)
      ? {
          disk: s.flavor.diskGb,
          ephemeral: 0,
          extra_specs: {},
          original_name: s.flavor.name,
          ram: s.flavor.ramMb,
          swap: 0,
          vcpus: s.flavor.vcpus,
        }
      : {
          id: flavorId,
          links: [{ href: `${baseUrl}/compute/${s.tenantId}/flavors/${flavorId}`, rel: "bookmark" }],
        },
    // Nova's hostId: sha224 of the project id and the host, so tenants can tell co-location apart.
    hostId: createHash("sha224").update(`${s.tenantId}${s.host}`).digest("hex"),
    id: s.id,
    image: {
      id: s.image.id,
      links: [{ href: `${baseUrl}/compute/images/${s.image.id}`, rel: "bookmark" }],
    },
    key_name: null,
    links: [
      { href: `${baseUrl}/compute/v2.1/${s.tenantId}/servers/${s.id}`, rel: "self" },
      { href: `${baseUrl}/compute/${s.tenantId}/servers/${s.id}`, rel: "bookmark" },
    ],
    metadata: {},
    name: s.name,
    "os-extended-volumes:volumes_attached": [],
    progress: 0,
    // Nova lists the security groups of the server's ports: a server with a port (every one in
    // Nova's API samples) shows them; the lab's, booted with `networks: none`, show no key at all.
    security_groups: [{ name: "default" }],
    status: s.status,
    tenant_id: s.tenantId,
    updated: novaServerTime(s.updated),
    user_id: s.userId,
  });
  if (v(MV.LOCKED)) o.locked = false;
  if (v(MV.HOST_STATUS)) o.host_status = hostStatus(s.host, services);
  if (v(MV.DESCRIPTION)) o.description = null;
  if (v(MV.TAGS)) o.tags = [];
  if (v(MV.TRUSTED_CERTS)) o.trusted_image_certificates = null;
  // Only `GET /servers/{id}` shows server_groups (nova 26.2.2 views/servers.py `show_server_groups`).
  if (v(MV.SERVER_GROUPS) && !opts.inList) o.server_groups = [];
  if (v(MV.LOCKED_REASON)) o.locked_reason = null;
  if (v(MV.PINNED_AZ)) o.pinned_availability_zone = null;
  if (v(MV.SCHEDULER_HINTS)) o.scheduler_hints = {};
  return o;
}

/** The fields from 2.59 (`uuid`) and 2.80 (`user_id`, `project_id`) both migration views add. */
function addMigrationIds(o: Record<string, unknown>, m: CloudMigration, mv: string): void {
  if (atLeast(mv, MV.MIGRATION_UUID)) o.uuid = m.uuid;
  if (atLeast(mv, MV.MIGRATION_USER_PROJECT)) {
    o.user_id = m.userId;
    o.project_id = m.projectId;
  }
}

/** The fields both migration views open with, in Nova's order. */
function migrationHead(m: CloudMigration): Record<string, unknown> {
  return {
    created_at: novaDbTime(m.createdAt),
    dest_compute: m.destCompute,
    dest_host: m.destHost,
    dest_node: m.destNode,
    id: m.id,
  };
}

/** A server migration (`GET /servers/{id}/migrations[/{id}]`, 2.23+). */
export function renderServerMigration(m: CloudMigration, mv: string): Record<string, unknown> {
  const o: Record<string, unknown> = {
    ...migrationHead(m),
    server_uuid: m.serverId,
    source_compute: m.sourceCompute,
    source_node: m.sourceNode,
    status: m.status,
    memory_total_bytes: m.memoryTotalBytes,
    memory_processed_bytes: m.memoryProcessedBytes,
    memory_remaining_bytes: m.memoryRemainingBytes,
    disk_total_bytes: m.diskTotalBytes,
    disk_processed_bytes: m.diskProcessedBytes,
    disk_remaining_bytes: m.diskRemainingBytes,
    updated_at: novaDbTime(m.updatedAt),
  };
  addMigrationIds(o, m, mv);
  return o;
}

/** An entry of `GET /os-migrations`. */
export function renderOsMigration(m: CloudMigration, mv: string, links: NovaLinks): Record<string, unknown> {
  const { baseUrl, projectId } = links;
  const withType = atLeast(mv, MV.SERVER_MIGRATIONS);
  const o: Record<string, unknown> = { ...migrationHead(m), instance_uuid: m.serverId };
  // Links point at the server-migrations resource, which only shows in-progress live migrations.
  if (withType && m.migrationType === "live-migration" && isInProgress(m.status)) {
    o.links = [
      {
        href: `${baseUrl}/compute/v2.1/${projectId}/servers/${m.serverId}/migrations/${m.id}`,
        rel: "self",
      },
      { href: `${baseUrl}/compute/${projectId}/servers/${m.serverId}/migrations/${m.id}`, rel: "bookmark" },
    ];
  }
  Object.assign(o, {
    new_instance_type_id: m.newInstanceTypeId,
    old_instance_type_id: m.oldInstanceTypeId,
    source_compute: m.sourceCompute,
    source_node: m.sourceNode,
    status: m.status,
  });
  if (withType) o.migration_type = m.migrationType;
  o.updated_at = novaDbTime(m.updatedAt);
  addMigrationIds(o, m, mv);
  return o;
}

/** A service id: the integer before 2.53, a UUID from then on. */
export function serviceIdFor(s: { id: number; host: string }, mv: string): number | string {
  return atLeast(mv, MV.UUID_IDS) ? uuidFrom(`service:${s.id}:${s.host}`) : s.id;
}

/** A hypervisor (`GET /os-hypervisors/detail`); from 2.88 without the resource statistics. */
export function renderHypervisor(
  h: CloudHypervisor,
  services: readonly CloudService[],
  mv: string,
  uptime: string | null = null,
): Record<string, unknown> {
  const service = services.find((s) => s.id === h.serviceId);
  const serviceBody = {
    host: h.serviceHost,
    id: serviceIdFor({ id: h.serviceId, host: h.serviceHost }, mv),
    disabled_reason: service?.disabledReason ?? null,
  };
  const id = atLeast(mv, MV.UUID_IDS) ? h.uuid : h.id;
  if (atLeast(mv, MV.HYPERVISOR_NO_STATS)) {
    return {
      host_ip: h.hostIp,
      hypervisor_hostname: h.hypervisorHostname,
      hypervisor_type: h.hypervisorType,
      hypervisor_version: h.hypervisorVersion,
      id,
      service: serviceBody,
      state: h.state,
      status: h.status,
      uptime,
    };
  }
  return {
    cpu_info: atLeast(mv, MV.CPU_INFO_OBJECT) ? h.cpuInfo : JSON.stringify(h.cpuInfo),
    current_workload: 0,
    status: h.status,
    state: h.state,
    disk_available_least: h.freeDiskGb,
    host_ip: h.hostIp,
    free_disk_gb: h.freeDiskGb,
    free_ram_mb: h.freeRamMb,
    hypervisor_hostname: h.hypervisorHostname,
    hypervisor_type: h.hypervisorType,
    hypervisor_version: h.hypervisorVersion,
    id,
    local_gb: h.localGb,
    local_gb_used: h.localGbUsed,
    memory_mb: h.memoryMb,
    memory_mb_used: h.memoryMbUsed,
    running_vms: h.runningVms,
    service: serviceBody,
    vcpus: h.vcpus,
    vcpus_used: h.vcpusUsed,
  };
}

/** A service (`GET /os-services`). */
export function renderService(s: CloudService, mv: string): Record<string, unknown> {
  const o: Record<string, unknown> = {
    id: serviceIdFor(s, mv),
    binary: s.binary,
    disabled_reason: s.disabledReason,
    host: s.host,
    state: s.state,
    status: s.status,
    updated_at: novaDbTime(s.updatedAt),
  };
  if (atLeast(mv, MV.SERVICE_FORCED_DOWN)) o.forced_down = s.forcedDown;
  o.zone = s.zone;
  return o;
}

/** A flavor (`GET /flavors/detail`, `/flavors/{id}`): `description` from 2.55, `extra_specs` from 2.61, `swap` a number from 2.75. */
export function renderFlavor(f: CloudFlavor, mv: string, links: NovaLinks): Record<string, unknown> {
  const o: Record<string, unknown> = {
    id: f.id,
    name: f.name,
    ram: f.ramMb,
    disk: f.diskGb,
    swap: atLeast(mv, MV.FLAVOR_SWAP_INTEGER) ? 0 : "",
    "OS-FLV-EXT-DATA:ephemeral": 0,
    "OS-FLV-DISABLED:disabled": false,
    vcpus: f.vcpus,
    "os-flavor-access:is_public": true,
    rxtx_factor: 1,
    links: [
      { rel: "self", href: `${links.baseUrl}/compute/v2.1/flavors/${f.id}` },
      { rel: "bookmark", href: `${links.baseUrl}/compute/flavors/${f.id}` },
    ],
  };
  if (atLeast(mv, MV.FLAVOR_DESCRIPTION)) o.description = null;
  if (atLeast(mv, MV.FLAVOR_EXTRA_SPECS)) o.extra_specs = {};
  return o;
}

/** An entry of `GET /servers` (no detail): id, name, links. */
export function renderServerBrief(s: CloudServer, links: NovaLinks): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    links: [
      { rel: "self", href: `${links.baseUrl}/compute/v2.1/servers/${s.id}` },
      { rel: "bookmark", href: `${links.baseUrl}/compute/servers/${s.id}` },
    ],
  };
}

/** Nova's `hostId` of a host for a project: sha224 of the project id and the host. */
function hostIdOf(projectId: string, host: string): string {
  return createHash("sha224").update(`${projectId}${host}`).digest("hex");
}

/**
 * An instance action (`os-instance-actions`): `updated_at` from 2.58; with `events` when shown
 * alone, each with `host`/`hostId` from 2.62 and `details` (the error's message) from 2.84. An
 * admin sees each event's traceback: null on success, the exception's last line here (real Nova
 * prints the whole Python traceback).
 */
export function renderInstanceAction(
  a: CloudInstanceAction,
  mv: string,
  withEvents: boolean,
): Record<string, unknown> {
  const o: Record<string, unknown> = {
    action: a.action,
    instance_uuid: a.serverId,
    request_id: a.requestId,
    user_id: a.userId,
    project_id: a.projectId,
    start_time: novaDbTime(a.startTime),
    message: a.message,
  };
  if (atLeast(mv, MV.INSTANCE_ACTION_UPDATED_AT)) o.updated_at = novaDbTime(a.updatedAt);
  if (!withEvents) return o;
  o.events = a.events.map((e) => {
    const ev: Record<string, unknown> = {
      event: e.event,
      start_time: novaDbTime(e.startTime),
      finish_time: e.finishTime === null ? null : novaDbTime(e.finishTime),
      result: e.result,
      traceback: e.details === null ? null : `${e.details}\n`,
    };
    if (atLeast(mv, MV.INSTANCE_ACTION_EVENT_HOST)) {
      ev.host = e.host;
      ev.hostId = hostIdOf(a.projectId, e.host);
    }
    if (atLeast(mv, MV.INSTANCE_ACTION_EVENT_DETAILS)) ev.details = e.details;
    return ev;
  });
  return o;
}

/** An entry of `GET /os-hypervisors` (no detail). */
export function renderHypervisorBrief(h: CloudHypervisor, mv: string): Record<string, unknown> {
  return {
    id: atLeast(mv, MV.UUID_IDS) ? h.uuid : h.id,
    hypervisor_hostname: h.hypervisorHostname,
    state: h.state,
    status: h.status,
  };
}
