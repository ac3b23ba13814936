/**
 * The Home tab on Slack: implements {@link HomePublisher}. For each person it decides what they may
 * see (proposals only for approvers, less their own unless self-approval is allowed), renders it
 * (bot/render/home.ts) and publishes it through the notifier, paced by the shared limiter.
 */
import type { HomePublisher } from "../../src/home/index";
import type { HomeTabPort } from "../../src/notify/port";
import type { AccessControl } from "../access";
import { renderHome } from "../render/home";

export interface HomePresenterDeps {
  home: HomeTabPort;
  access: Pick<AccessControl, "has" | "allowSelfApproval">;
  /** The workspace's URL for links to threads (auth.test's `url`); null when it cannot be had. */
  workspaceUrl: () => Promise<string | null>;
}

/** A {@link HomePublisher} that publishes to Slack. */
export function createHomePresenter(deps: HomePresenterDeps): HomePublisher {
  return {
    async publish(user, snapshot) {
      const canApprove = await deps.access.has(user, "approver");
      const mine = canApprove
        ? snapshot.pending.filter((p) => deps.access.allowSelfApproval || p.requestedBy !== user)
        : [];
      const rendered = renderHome({
        user,
        snapshot,
        canApprove,
        waiting: mine,
        waitingMore: canApprove ? Math.max(0, snapshot.pendingTotal - snapshot.pending.length) : 0,
        workspaceUrl: await deps.workspaceUrl().catch(() => null),
      });
      await deps.home.publishHome(user, rendered);
    },
  };
}
