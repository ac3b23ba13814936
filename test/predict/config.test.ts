/** MIGBOT_PREDICT: off unless asked; a wrong value is refused with the values it takes. */
import { describe, expect, test } from "vitest";
import { ConfigError, loadConfig } from "../../src/config";
import { generateKeySet } from "../../src/signing/keys";

const KEYS = generateKeySet();
const WORKER = {
  SLACK_BOT_TOKEN: "xoxb-1-2-abc",
  REDIS_URL: "redis://:s3cret-redis@r:6379",
  MIGBOT_INVENTORY: "/etc/migbot/hosts.yaml",
  OS_CLOUD: "prod",
  MIGBOT_WORKER_KEY: KEYS.MIGBOT_WORKER_KEY,
  MIGBOT_BOT_VERIFY_KEY: KEYS.MIGBOT_BOT_VERIFY_KEY,
};

describe("MIGBOT_PREDICT", () => {
  test("off by default; show and ask as given", () => {
    expect(loadConfig(WORKER, { role: "worker" }).worker.predict).toBe("off");
    expect(loadConfig({ ...WORKER, MIGBOT_PREDICT: "ask" }, { role: "worker" }).worker.predict).toBe("ask");
    expect(loadConfig({ ...WORKER, MIGBOT_PREDICT: "show" }, { role: "worker" }).worker.predict).toBe("show");
  });

  test("another value is refused, naming the ones it takes", () => {
    expect(() => loadConfig({ ...WORKER, MIGBOT_PREDICT: "yes" }, { role: "worker" })).toThrow(ConfigError);
    expect(() => loadConfig({ ...WORKER, MIGBOT_PREDICT: "yes" }, { role: "worker" })).toThrow(
      /off, show, ask/,
    );
  });
});
