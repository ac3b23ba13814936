/**
 * The drains the App Home tab lists (src/home's DrainSource): the active ones from the drain store.
 * Redis contents are untrusted: the store parses them; ids that end up in a link are checked here.
 */
import type { Redis } from "ioredis";
import type { DrainSource } from "../home";
import { CHANNEL_ID_RE, MESSAGE_TS_RE } from "../home/read";
import { listDrains } from "./store";

/** At most this many drains on the tab (a drain is a host emptied for maintenance: few at once). */
export const HOME_DRAINS_MAX = 10;

/** Active drains (approved, running, paused, cancelling), newest first, as the Home tab shows them. */
export function drainHomeSource(redis: Redis, prefix: string): DrainSource {
  return {
    async running() {
      const drains = await listDrains(redis, prefix, { onlyActive: true, limit: HOME_DRAINS_MAX });
      return drains.slice(0, HOME_DRAINS_MAX).map((d) => ({
        id: d.id,
        host: String(d.host),
        state: String(d.status),
        moved: Number.isFinite(d.moved) ? d.moved : 0,
        total: Number.isFinite(d.total) ? d.total : 0,
        requestedBy: String(d.requestedBy),
        channel: CHANNEL_ID_RE.test(String(d.channel)) ? d.channel : "",
        threadTs: d.messageTs !== null && MESSAGE_TS_RE.test(String(d.messageTs)) ? d.messageTs : null,
      }));
    },
  };
}
