/** One compute host migbot may reach over SSH, as written in the inventory file. */
export interface HostEntry {
  /** The name Nova uses for the host (`OS-EXT-SRV-ATTR:host`, `service.host`), e.g. `compute-3`. */
  name: string;
  /** Address to connect to. */
  address: string;
  /** @defaultValue 22 */
  port?: number;
  /** SSH user. @defaultValue "migbot" */
  user?: string;
  /** Prefix catalogue commands with `sudo -n --`. @defaultValue false */
  sudo?: boolean;
  /** Private key file; when absent the ssh-agent at SSH_AUTH_SOCK is used. */
  privateKeyPath?: string;
  /** Pinned host keys as `SHA256:<base64>` fingerprints (OpenSSH's `ssh-keygen -lf` form). */
  hostKeyFingerprints?: string[];
  /** OpenStack release on the host (e.g. `mitaka`, `zed`); read from `nova-compute --version` when absent. */
  release?: string;
  /** nova-compute's config files, in the order it reads them (later ones override). @defaultValue ["/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"] */
  novaConfPaths?: string[];
  /** @defaultValue "/var/log/nova/nova-compute.log" */
  novaComputeLogPath?: string;
  /** @defaultValue "nova-compute" */
  novaComputeService?: "nova-compute" | "openstack-nova-compute";
}

export const DEFAULT_NOVA_CONF_PATHS = ["/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"];
export const DEFAULT_NOVA_COMPUTE_LOG_PATH = "/var/log/nova/nova-compute.log";
