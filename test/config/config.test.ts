import { describe, expect, test } from "vitest";
import { ConfigError, loadConfig } from "../../src/config";

describe("loadConfig", () => {
  test("no Slack credentials means the sandbox, with documented defaults", () => {
    const c = loadConfig({});
    expect(c.mode).toBe("sandbox");
    expect(c.slack.port).toBe(3000);
    expect(c.worker.pollIntervalMs).toBe(2000);
    expect(c.proposalTtlS).toBe(3600);
    expect(c.access.allowSelfApproval).toBe(false);
  });

  test("Slack mode needs the pieces of its transport, named in the error", () => {
    const base = {
      SLACK_BOT_TOKEN: "xoxb-1-2-abc",
      REDIS_URL: "redis://r:6379",
      MIGBOT_INVENTORY: "/etc/migbot/hosts.yaml",
    };
    expect(() => loadConfig(base)).toThrow(/SLACK_SIGNING_SECRET/);
    expect(() => loadConfig({ ...base, SLACK_MODE: "socket" })).toThrow(/SLACK_APP_TOKEN/);
    const http = loadConfig({ ...base, SLACK_SIGNING_SECRET: "s3cret" });
    expect(http.slack.transport).toBe("http");
    const socket = loadConfig({ ...base, SLACK_APP_TOKEN: "xapp-1-A-2-x" });
    expect(socket.slack.transport).toBe("socket");
    expect(() => loadConfig({ ...base, SLACK_SIGNING_SECRET: "s", REDIS_URL: undefined })).toThrow(
      /REDIS_URL/,
    );
  });

  test("bad values name the variable and never echo a token", () => {
    try {
      loadConfig({ SLACK_BOT_TOKEN: "xoxp-user-token-abc", REDIS_URL: "redis://x" });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/^SLACK_BOT_TOKEN/);
      expect((err as Error).message).not.toContain("xoxp-user-token-abc");
    }
    expect(() => loadConfig({ MIGBOT_POLL_INTERVAL_MS: "fast" })).toThrow(/MIGBOT_POLL_INTERVAL_MS/);
    expect(() => loadConfig({ MIGBOT_OPERATORS: "alice" })).toThrow(/MIGBOT_OPERATORS.*not a Slack id/);
  });

  test("operators and approvers are user or group ids", () => {
    const c = loadConfig({
      MIGBOT_OPERATORS: "U012ABC, S0OPS1",
      MIGBOT_APPROVERS: "U0BOB1",
      MIGBOT_CHANNELS: "C0OPS1",
    });
    expect(c.access.operators).toEqual(["U012ABC", "S0OPS1"]);
    expect(c.access.approvers).toEqual(["U0BOB1"]);
    expect(c.access.channels).toEqual(["C0OPS1"]);
  });
});
