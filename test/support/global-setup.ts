import type { TestProject } from "vitest/node";
import { startPrivateRedis } from "./redis-server";

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** One private redis-server for the whole run; tests isolate themselves with unique key prefixes. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startPrivateRedis();
  project.provide("redisUrl", redis.url);
  return () => redis.stop();
}
