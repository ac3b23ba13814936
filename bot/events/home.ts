/**
 * The App Home tab's events: someone opened the Home tab (`app_home_opened`, tab "home"): they are
 * shown it now and kept up to date while they look. The link buttons on the tab open threads in
 * Slack's client; Slack still sends their clicks, which are only acknowledged here.
 */
import type { App } from "@slack/bolt";
import type { Logger } from "../../src/log";
import { ACTION_HOME_OPEN } from "../render/home";

/** What the bot needs from the Home tab's refresher. */
export interface HomeOpened {
  opened(user: string): Promise<void>;
}

/** Registers the Home tab's event and its link buttons on the Bolt app. */
export function registerHomeEvents(app: App, home: HomeOpened, log: Logger): void {
  app.event("app_home_opened", async ({ event }) => {
    // The Messages tab is off in the manifest; an older client may still report it.
    if (event.tab !== "home") return;
    try {
      await home.opened(event.user);
    } catch (err) {
      log.warn("could not show a Home tab", { err });
    }
  });
  app.action(new RegExp(`^${ACTION_HOME_OPEN}_\\d+$`), async ({ ack }) => {
    await ack();
  });
}
