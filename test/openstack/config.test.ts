import { describe, expect, it } from "vitest";
import {
  cloudsYamlSearchPaths,
  credentialsFromCloudsYaml,
  credentialsFromEnv,
  loadOpenStackCredentials,
} from "../../src/openstack/config";
import { ConfigInvalidError, OpenStackErrorCode } from "../../src/openstack/errors";

const CLOUDS_YAML = `
clouds:
  prod:
    auth:
      auth_url: https://keystone.example.com:5000/v3
      username: migbot
      password: pw-from-clouds-yaml
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: internal
    identity_api_version: 3
  staging:
    auth:
      auth_url: http://10.0.0.5/identity
      username: migbot
      project_name: ops
      user_domain_name: Default
      project_domain_name: Default
    regions:
      - StagingRegion
`;

const SECURE_YAML = `
clouds:
  staging:
    auth:
      password: pw-from-secure-yaml
`;

const OPENRC_ENV = {
  OS_AUTH_URL: "http://controller:5000/v3",
  OS_USERNAME: "admin",
  OS_PASSWORD: "pw-from-env",
  OS_PROJECT_NAME: "admin",
  OS_USER_DOMAIN_NAME: "Default",
  OS_PROJECT_DOMAIN_NAME: "Default",
  OS_REGION_NAME: "RegionOne",
};

function files(map: Record<string, string>) {
  return (path: string) => map[path];
}

describe("OpenStack credentials", () => {
  it("reads an openrc-style environment", () => {
    const c = credentialsFromEnv(OPENRC_ENV);
    expect(c).toMatchObject({
      authUrl: "http://controller:5000/v3",
      username: "admin",
      password: "pw-from-env",
      projectName: "admin",
      userDomainName: "Default",
      projectDomainName: "Default",
      regionName: "RegionOne",
      interface: "public",
      source: "OS_* environment",
    });
  });

  it("names the missing variable and never echoes the password", () => {
    for (const missing of ["OS_AUTH_URL", "OS_PASSWORD", "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME"]) {
      const env: Record<string, string | undefined> = { ...OPENRC_ENV, [missing]: undefined };
      let error: unknown;
      try {
        credentialsFromEnv(env);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigInvalidError);
      expect((error as ConfigInvalidError).code).toBe(OpenStackErrorCode.ConfigInvalid);
      expect((error as Error).message).toContain(missing);
      expect((error as Error).message).not.toContain("pw-from-env");
    }
  });

  it("accepts the legacy OS_TENANT_NAME and refuses non-password auth types", () => {
    const { OS_PROJECT_NAME: _unused, ...rest } = OPENRC_ENV;
    expect(credentialsFromEnv({ ...rest, OS_TENANT_NAME: "legacy" }).projectName).toBe("legacy");
    expect(() => credentialsFromEnv({ ...OPENRC_ENV, OS_AUTH_TYPE: "v3applicationcredential" })).toThrow(
      /password auth only/,
    );
  });

  it("reads a clouds.yaml entry by name, with region and interface", () => {
    const c = credentialsFromCloudsYaml({
      cloud: "prod",
      cloudsYaml: CLOUDS_YAML,
      cloudsYamlPath: "/x/clouds.yaml",
    });
    expect(c).toMatchObject({
      authUrl: "https://keystone.example.com:5000/v3",
      username: "migbot",
      password: "pw-from-clouds-yaml",
      projectName: "admin",
      regionName: "RegionOne",
      interface: "internal",
    });
    expect(c.source).toBe('clouds.yaml cloud "prod" (/x/clouds.yaml)');
  });

  it("merges secure.yaml over clouds.yaml and takes the first of `regions`", () => {
    const c = credentialsFromCloudsYaml({
      cloud: "staging",
      cloudsYaml: CLOUDS_YAML,
      secureYaml: SECURE_YAML,
    });
    expect(c.password).toBe("pw-from-secure-yaml");
    expect(c.regionName).toBe("StagingRegion");
    expect(() => credentialsFromCloudsYaml({ cloud: "staging", cloudsYaml: CLOUDS_YAML })).toThrow(
      /auth\.password is missing; add it under clouds\.staging/,
    );
  });

  it("lists the clouds there are when the name is unknown", () => {
    expect(() => credentialsFromCloudsYaml({ cloud: "nope", cloudsYaml: CLOUDS_YAML })).toThrow(
      /no cloud named "nope" \(it has: prod, staging\)/,
    );
  });

  it("searches clouds.yaml like openstacksdk: OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack, /etc/openstack", () => {
    expect(cloudsYamlSearchPaths({ OS_CLIENT_CONFIG_FILE: "/custom.yaml" }, "/work", "/home/op")).toEqual([
      "/custom.yaml",
      "/work/clouds.yaml",
      "/home/op/.config/openstack/clouds.yaml",
      "/etc/openstack/clouds.yaml",
    ]);
    const c = loadOpenStackCredentials({
      env: { OS_CLOUD: "prod" },
      readFile: files({
        "/home/op/.config/openstack/clouds.yaml": CLOUDS_YAML,
        "/etc/openstack/clouds.yaml": "clouds: {}",
      }),
      cwd: "/work",
      home: "/home/op",
    });
    expect(c.source).toContain("/home/op/.config/openstack/clouds.yaml");
  });

  it("uses OS_CLOUD (or an explicit cloud) over OS_* variables, and OS_* without them", () => {
    const readFile = files({ "/work/clouds.yaml": CLOUDS_YAML, "/work/secure.yaml": SECURE_YAML });
    const base = { readFile, cwd: "/work", home: "/home/op" };
    expect(loadOpenStackCredentials({ ...base, env: { ...OPENRC_ENV, OS_CLOUD: "prod" } }).password).toBe(
      "pw-from-clouds-yaml",
    );
    expect(loadOpenStackCredentials({ ...base, env: OPENRC_ENV, cloud: "staging" }).password).toBe(
      "pw-from-secure-yaml",
    );
    expect(loadOpenStackCredentials({ ...base, env: OPENRC_ENV }).password).toBe("pw-from-env");
  });

  it("says where it looked when OS_CLOUD is set but there is no clouds.yaml", () => {
    expect(() =>
      loadOpenStackCredentials({
        env: { OS_CLOUD: "prod" },
        readFile: () => undefined,
        cwd: "/w",
        home: "/h",
      }),
    ).toThrow(/no clouds.yaml was found \(looked in \/w\/clouds.yaml, \/h\/.config\/openstack\/clouds.yaml/);
  });
});
