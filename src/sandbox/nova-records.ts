/**
 * What both sandbox control planes (the model in `cloud.ts`, the lab in `data-plane-lab.ts`) say as
 * Nova: the records Nova keeps for a live migration and a compute service, the migration listing,
 * and Nova's own wording for a refused request. Kept in one place so the two clouds cannot drift
 * apart in what the bot sees through the Nova API.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import type { HostEntry } from "../hosts/inventory";
import {
  type CloudMigration,
  type CloudMigrationStatus,
  type CloudService,
  ControlPlaneError,
  type MigrationFilter,
} from "./control-plane";

/** The user id on every sandbox record (the value Nova's fake driver uses). */
export const SANDBOX_USER_ID = "fake";
/** The name of the cloud in the clouds.yaml the sandbox writes. */
export const SANDBOX_CLOUD_NAME = "migbot-sandbox";

/** Statuses Nova counts as in progress (`GET /os-migrations?...` for a live migration still moving). */
const IN_PROGRESS: readonly CloudMigrationStatus[] = ["queued", "preparing", "running", "post-migrating"];

/** A timestamp as Nova prints it: ISO 8601 to the second, UTC. */
export function novaTimestamp(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Nova's record of a live migration just accepted (queued, no bytes moved yet). */
export function newLiveMigrationRecord(p: {
  id: number;
  uuid: string;
  serverId: string;
  source: string;
  dest: string;
  /** The destination's address (Nova's `dest_host`). */
  destHost: string;
  projectId: string;
  now: string;
}): CloudMigration {
  return {
    id: p.id,
    uuid: p.uuid,
    serverId: p.serverId,
    migrationType: "live-migration",
    status: "queued",
    sourceCompute: p.source,
    sourceNode: p.source,
    destCompute: p.dest,
    destNode: p.dest,
    destHost: p.destHost,
    memoryTotalBytes: 0,
    memoryProcessedBytes: 0,
    memoryRemainingBytes: 0,
    diskTotalBytes: 0,
    diskProcessedBytes: 0,
    diskRemainingBytes: 0,
    oldInstanceTypeId: 1,
    newInstanceTypeId: 1,
    userId: SANDBOX_USER_ID,
    projectId: p.projectId,
    createdAt: p.now,
    updatedAt: p.now,
  };
}

/** `GET /os-migrations` and `GET /servers/{id}/migrations`: copies of the records the filter keeps. */
export function listMigrations(
  migrations: readonly { record: CloudMigration }[],
  filter: MigrationFilter,
): CloudMigration[] {
  return migrations
    .filter((m) => filter.instanceUuid === undefined || m.record.serverId === filter.instanceUuid)
    .filter((m) => filter.migrationType === undefined || m.record.migrationType === filter.migrationType)
    .filter((m) => !filter.inProgressOnly || IN_PROGRESS.includes(m.record.status))
    .map((m) => ({ ...m.record }));
}

/** The migration of a server by id, or undefined. */
export function findMigration<M extends { record: CloudMigration }>(
  migrations: readonly M[],
  serverId: string,
  migrationId: number,
): M | undefined {
  return migrations.find((x) => x.record.serverId === serverId && x.record.id === migrationId);
}

/** The migration of a known server, or Nova's 404 for an unknown server or migration. */
export function migrationOrThrow<M extends { record: CloudMigration }>(
  migrations: readonly M[],
  serverKnown: boolean,
  serverId: string,
  migrationId: number,
): M {
  if (!serverKnown) throw instanceNotFound(serverId);
  const m = findMigration(migrations, serverId, migrationId);
  if (!m) {
    throw new ControlPlaneError(
      "itemNotFound",
      404,
      `Migration ${migrationId} for instance ${serverId} could not be found.`,
    );
  }
  return m;
}

export function instanceNotFound(serverId: string): ControlPlaneError {
  return new ControlPlaneError("itemNotFound", 404, `Instance ${serverId} could not be found.`);
}

/** The destination the operator named, after Nova's checks: it must exist and not be the source. */
export function namedDestination<H>(
  hosts: ReadonlyMap<string, H>,
  serverId: string,
  source: string,
  dest: string,
): H {
  const host = hosts.get(dest);
  if (host === undefined) {
    throw new ControlPlaneError("badRequest", 400, `Compute host ${dest} could not be found.`);
  }
  if (dest === source) {
    throw new ControlPlaneError(
      "badRequest",
      400,
      `Unable to migrate instance (${serverId}) to current host (${source}).`,
    );
  }
  return host;
}

/** The scheduler's answer when no host fits. */
export function noValidHost(): ControlPlaneError {
  return new ControlPlaneError(
    "badRequest",
    400,
    "No valid host was found. There are not enough hosts available.",
  );
}

/** Nova's refusal of force-complete or abort for a migration in the wrong state. */
export function wrongMigrationState(
  action: "force_complete" | "abort live migration",
  serverId: string,
  migrationId: number,
  status: CloudMigrationStatus,
): ControlPlaneError {
  return new ControlPlaneError(
    "badRequest",
    400,
    `Migration ${migrationId} state of instance ${serverId} is ${status}. Cannot ${action} while the migration is in this state.`,
  );
}

/** Nova's os-services record of a host's nova-compute. */
export function computeService(p: {
  id: number;
  host: string;
  up: boolean;
  updatedAt: string;
}): CloudService {
  return {
    id: p.id,
    binary: "nova-compute",
    host: p.host,
    zone: "nova",
    status: "enabled",
    state: p.up ? "up" : "down",
    updatedAt: p.updatedAt,
    disabledReason: null,
    forcedDown: false,
  };
}

/** The admin account every sandbox Keystone serves; only the password differs per start. */
export function sandboxAdminCredentials(password: string) {
  return {
    username: "admin",
    password,
    projectName: "admin",
    userDomainName: "Default",
    projectDomainName: "Default",
    regionName: "RegionOne",
  };
}

/**
 * Writes the files a user points migbot at: clouds.yaml (one cloud named {@link SANDBOX_CLOUD_NAME},
 * mode 0600 as it holds the password) and the inventory (`{ hosts }`), both into `dataDir`.
 */
export async function writeSandboxClientFiles(
  dataDir: string,
  credentials: ReturnType<typeof sandboxAdminCredentials> & { authUrl: string },
  hosts: HostEntry[],
): Promise<{ cloudsYaml: string; cloudsYamlPath: string; inventoryPath: string }> {
  const cloudsYaml = stringify({
    clouds: {
      [SANDBOX_CLOUD_NAME]: {
        auth: {
          auth_url: credentials.authUrl,
          username: credentials.username,
          password: credentials.password,
          project_name: credentials.projectName,
          user_domain_name: credentials.userDomainName,
          project_domain_name: credentials.projectDomainName,
        },
        region_name: credentials.regionName,
        interface: "public",
        identity_api_version: 3,
      },
    },
  });
  const cloudsYamlPath = join(dataDir, "clouds.yaml");
  await writeFile(cloudsYamlPath, cloudsYaml, { mode: 0o600 });
  const inventoryPath = join(dataDir, "inventory.yaml");
  await writeFile(inventoryPath, stringify({ hosts }));
  return { cloudsYaml, cloudsYamlPath, inventoryPath };
}
