/**
 * Who opened the Home tab lately: one sorted set in Redis (user → when they last opened it), shared
 * by every process, bounded in time (older than the TTL is dropped) and in size (the most recent
 * {@link HOME_VIEWERS_MAX} are kept). Only these people get updates as things change; anyone else
 * gets a fresh tab the next time they open it.
 */
import type { Redis } from "ioredis";

/** An opened Home tab is kept up to date this long. */
export const HOME_VIEWER_TTL_MS = 30 * 60_000;
/** At most this many people are kept up to date at once (the most recent openers). */
export const HOME_VIEWERS_MAX = 200;
/** What a Slack user id looks like; anything else is never stored or published to. */
export const USER_ID_RE = /^[UW][A-Z0-9]{2,30}$/;

export class HomeViewers {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly ttlMs = HOME_VIEWER_TTL_MS,
    private readonly max = HOME_VIEWERS_MAX,
  ) {
    this.key = `${prefix}:home:viewers`;
  }

  /** Notes that `user` opened the tab now (false for something that is not a user id). */
  async opened(user: string, now = Date.now()): Promise<boolean> {
    if (!USER_ID_RE.test(user)) return false;
    await this.redis
      .multi()
      .zadd(this.key, now, user)
      .zremrangebyscore(this.key, "-inf", now - this.ttlMs)
      .zremrangebyrank(this.key, 0, -(this.max + 1))
      .pexpire(this.key, this.ttlMs)
      .exec();
    return true;
  }

  /** The people who opened it within the TTL, most recent first. */
  async recent(now = Date.now()): Promise<string[]> {
    const users = await this.redis.zrevrangebyscore(this.key, "+inf", now - this.ttlMs, "LIMIT", 0, this.max);
    return users.filter((u) => USER_ID_RE.test(u));
  }
}
