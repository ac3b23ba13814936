export { type PrivateRedis, startPrivateRedis } from "../../src/runtime/redis-server";
