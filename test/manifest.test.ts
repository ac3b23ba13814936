/**
 * manifest.yml against Slack's own manifest schema (slackapi/manifest-schema, in ../shared/fixtures).
 * The top-level schema `$ref`s the versioned schemas by URL; they are registered under those URLs
 * from the local copies, so nothing is fetched.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import Ajv, { type ValidateFunction } from "ajv";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { readJsonFixture } from "./support/fixtures";

const SCHEMA_BASE = "https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas";
const PROJECT_ROOT = resolve(import.meta.dirname, "..");

interface Manifest {
  display_information: { name: string };
  features: {
    bot_user: { display_name: string };
    slash_commands: { command: string; usage_hint?: string; url?: string }[];
    app_home?: { home_tab_enabled?: boolean; messages_tab_enabled?: boolean };
  };
  oauth_config: { scopes: { bot: string[] } };
  settings: {
    event_subscriptions?: { bot_events?: string[]; request_url?: string };
    interactivity: { is_enabled: boolean };
    socket_mode_enabled: boolean;
    org_deploy_enabled: boolean;
  };
}

function loadManifest(): Manifest {
  return parse(readFileSync(resolve(PROJECT_ROOT, "manifest.yml"), "utf8")) as Manifest;
}

describe("manifest.yml", () => {
  let validate: ValidateFunction;

  beforeAll(() => {
    // strictTypes off: Slack's schemas omit `type` beside `required`/`minItems` in places, which is
    // valid JSON Schema (ajv only warns about the style); every other strict check stays on.
    const ajv = new Ajv({ allErrors: true, strictTypes: false, allowUnionTypes: true });
    // Slack's schemas use two keywords outside JSON Schema: `regex` (meant as `pattern`) and `_note`
    // (a comment). Declared here so ajv stays strict about everything else; `regex` is enforced.
    ajv.addKeyword({
      keyword: "regex",
      type: "string",
      schemaType: "string",
      validate: (re: string, data: string) => new RegExp(re).test(data),
    });
    ajv.addKeyword({ keyword: "_note" });
    ajv.addFormat("uri", (s: string) => URL.canParse(s));
    ajv.addSchema(
      readJsonFixture("slack-manifest-schema/manifest.schema.1.0.0.json"),
      `${SCHEMA_BASE}/manifest.schema.1.0.0.json`,
    );
    ajv.addSchema(
      readJsonFixture("slack-manifest-schema/manifest.schema.2.0.0.json"),
      `${SCHEMA_BASE}/manifest.schema.2.0.0.json`,
    );
    validate = ajv.compile(readJsonFixture("slack-manifest-schema/manifest.schema.json"));
  });

  it("the validator accepts Slack's valid example and rejects its invalid one (so this test can fail)", () => {
    expect(validate(readJsonFixture("slack-manifest-schema/manifest.valid.json"))).toBe(true);
    expect(validate(readJsonFixture("slack-manifest-schema/manifest.invalid.json"))).toBe(false);
    expect(JSON.stringify(validate.errors)).toContain("bad_param");
  });

  it("is valid against Slack's schema", () => {
    const ok = validate(loadManifest());
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it("is rejected once broken the way people break manifests", () => {
    const noSlash = loadManifest();
    noSlash.features.slash_commands[0]!.command = "migrate";
    expect(validate(noSlash)).toBe(false);
    const badColour = loadManifest() as Manifest & { display_information: { background_color: string } };
    badColour.display_information.background_color = "navy!!";
    expect(validate(badColour)).toBe(false);
  });

  it("declares /migrate, /diagnose and /drain with usage hints covering every form the bot accepts", () => {
    const m = loadManifest();
    const byName = Object.fromEntries(m.features.slash_commands.map((c) => [c.command, c]));
    expect(Object.keys(byName).sort()).toEqual(["/diagnose", "/drain", "/migrate"]);
    for (const form of [
      "<vm> to <host>",
      "status [vm]",
      "abort <vm>",
      "force-complete <vm>",
      "audit [n]",
      "help",
    ]) {
      expect(byName["/migrate"]!.usage_hint).toContain(form);
    }
    expect(byName["/diagnose"]!.usage_hint).toBe("<vm> [to <host>] | <host>");
    expect(byName["/drain"]!.usage_hint).toBe("<host> [to <host>,…] [concurrency N]");
    expect(m.display_information.name).toBe("migbot");
  });

  it("asks for the least privilege the bot needs, with interactivity on, in Socket Mode, not org-wide", () => {
    const m = loadManifest();
    expect([...m.oauth_config.scopes.bot].sort()).toEqual([
      "chat:write",
      "commands",
      "files:write",
      "usergroups:read",
    ]);
    expect(m.settings.interactivity.is_enabled).toBe(true);
    expect(m.settings.socket_mode_enabled).toBe(true);
    expect(m.settings.org_deploy_enabled).toBe(false);
  });

  it("turns the Home tab on and subscribes to app_home_opened, the one event the bot handles", () => {
    const m = loadManifest();
    expect(m.features.app_home?.home_tab_enabled).toBe(true);
    expect(m.settings.event_subscriptions?.bot_events).toEqual(["app_home_opened"]);
    // Socket Mode: events come over the socket, so no request URL is declared.
    expect(m.settings.event_subscriptions?.request_url).toBeUndefined();
  });
});
