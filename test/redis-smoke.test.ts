import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { expect, inject, test } from "vitest";

test("the private redis-server started by the test command stores and returns a value", async () => {
  const redis = new Redis(inject("redisUrl"));
  const key = `test-${randomUUID()}`;
  await redis.set(key, "hello", "EX", 10);
  expect(await redis.get(key)).toBe("hello");
  redis.disconnect();
});
