/**
 * The OpenStack mode's layout and files as pure functions: what every host's real nova-compute
 * reads, what the bot reads (clouds.yaml through migbot's own config loader), and what `up` says
 * when the packages are missing. No root, no namespaces: runs everywhere.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseIni } from "ini";
import { describe, expect, it } from "vitest";
import {
  renderCloudsYaml,
  renderComputeNovaConf,
  renderDatabaseSql,
} from "../../src/lab/openstack/config-files";
import { openStackMissing } from "../../src/lab/openstack/control-plane";
import { AUTH_URL, CLOUD_NAME, newSecrets, REGION } from "../../src/lab/openstack/layout";
import { OPENSTACK_EXTRA_BIND_TARGETS, planLab } from "../../src/lab/plan";
import { credentialsFromCloudsYaml } from "../../src/openstack/config";

describe("lab plan in openstack mode", () => {
  it("makes every host Zed with its own /var/lib/nova; without the flag the plan is as before", () => {
    const real = planLab({ openstack: true, stateDir: "/run/x" });
    expect(real.hosts.map((h) => h.release)).toEqual(["zed", "zed", "zed"]);
    for (const host of real.hosts) {
      expect(host.binds.map((b) => b.target)).toEqual(
        expect.arrayContaining([...OPENSTACK_EXTRA_BIND_TARGETS]),
      );
    }
    expect(real.cloudsYamlPath).toBe("/run/x/clouds.yaml");
    const agents = planLab({ stateDir: "/run/x" });
    expect(agents.hosts.map((h) => h.release)).toEqual(["mitaka", "zed", "mitaka"]);
    expect(agents.hosts[0]!.binds.map((b) => b.target)).not.toContain("/var/lib/nova");
  });

  it("each host's nova.conf names the host, its own folders and every service nova-compute must reach", () => {
    const secrets = newSecrets();
    const [, cmp2] = planLab({ openstack: true }).hosts;
    const conf = parseIni(renderComputeNovaConf(cmp2!, secrets));
    expect(conf.DEFAULT).toMatchObject({
      host: "cmp2",
      my_ip: "10.99.0.12",
      compute_driver: "libvirt.LibvirtDriver",
      instances_path: "/var/lib/nova/instances",
      transport_url: `rabbit://openstack:${secrets.rabbit}@10.99.0.1:5672/`,
    });
    // The same Zed live-migration settings as the agent hosts: qemu+ssh, data to the host's lab name.
    expect(conf.libvirt).toMatchObject({
      virt_type: "qemu",
      live_migration_scheme: "ssh",
      live_migration_inbound_addr: "cmp2",
      live_migration_permit_auto_converge: false,
      live_migration_bandwidth: "8",
    });
    // Without [neutron] a live migration fails in the conductor and leaves the instance in ERROR.
    expect(conf.neutron).toMatchObject({ auth_type: "password", username: "neutron", region_name: REGION });
    expect(conf.service_user).toMatchObject({ send_service_user_token: true, username: "nova" });
    expect(conf.placement).toMatchObject({ username: "placement", password: secrets.service.placement });
    expect(conf.oslo_concurrency.lock_path).toBe("/var/lib/nova/tmp");
  });

  it("writes a clouds.yaml migbot's own config loader reads: admin in project admin, public interface", () => {
    const secrets = newSecrets();
    const credentials = credentialsFromCloudsYaml({
      cloud: CLOUD_NAME,
      cloudsYaml: renderCloudsYaml(secrets),
    });
    expect(credentials).toMatchObject({
      authUrl: AUTH_URL,
      username: "admin",
      password: secrets.admin,
      projectName: "admin",
      regionName: "RegionOne",
      interface: "public",
    });
  });

  it("gives every database its owner and every owner one fresh password", () => {
    const a = newSecrets();
    const b = newSecrets();
    expect(a.admin).not.toBe(b.admin);
    const sql = renderDatabaseSql(a);
    for (const db of ["keystone", "placement", "glance", "neutron", "nova_api", "nova", "nova_cell0"]) {
      expect(sql).toContain(`CREATE DATABASE \`${db}\`;`);
    }
    expect(sql.match(/CREATE USER 'nova'/g)).toHaveLength(1);
    expect(sql).toContain("GRANT ALL PRIVILEGES ON `nova_cell0`.* TO 'nova'@'%';");
  });

  it("says what is missing and how to install it when the service packages are not unpacked", () => {
    const empty = mkdtempSync(join(tmpdir(), "os-root-"));
    try {
      const message = openStackMissing(empty);
      expect(message).toContain(`not unpacked in ${empty}`);
      expect(message).toContain("usr/bin/nova-compute");
      expect(message).toContain("bash src/lab/openstack/install.sh");
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
