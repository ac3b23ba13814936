/**
 * The App Home tab in the emulated workspace: `views.publish` with Slack's documented shape, errors
 * and limits, and the latest Home view published for each user, for tests and the console to read.
 *
 * Sources (docs.slack.dev, 2025): "views.publish" (arguments `user_id`, `view` as a JSON-encoded
 * string, optional `hash`; errors `not_enabled`, `hash_conflict`, `view_too_large` "greater than
 * 250kb", `invalid_arguments` with `response_metadata.messages` such as "invalid `user_id`"; Tier 4;
 * no scope required), "Home tab views" (type `home`, at most 100 blocks, `private_metadata` at most
 * 3000 characters, `callback_id` at most 255) and the success response (the published view with
 * its `id`, `hash`, `app_id`, `bot_id`, …).
 */
import { randomBytes } from "node:crypto";
import type { EventEmitter } from "node:events";
import { validateBlocks } from "./block-kit";
import type { SlackLimits } from "./limits";
import { type ApiAnswer, fail, ok, type Params, str } from "./web-api";
import { API_APP_ID, BOT_ID, type Workspace } from "./workspace";

/** Blocks in one Home tab view (messages allow 50). */
export const HOME_VIEW_MAX_BLOCKS = 100;
/** Slack refuses a view "greater than 250kb" with `view_too_large`. */
export const VIEW_MAX_BYTES = 250 * 1024;
export const VIEW_PRIVATE_METADATA_MAX_CHARS = 3000;
export const VIEW_CALLBACK_ID_MAX_CHARS = 255;
/** Random bytes in a view id's tail. */
const VIEW_ID_RANDOM_BYTES = 5;

/** The Home tab a user sees now: the last view published for them. */
export interface PublishedHomeView {
  user: string;
  /** Slack's `V…` id, stable per user once published. */
  id: string;
  /** Changes with every publish; a publish naming an older hash is refused (`hash_conflict`). */
  hash: string;
  blocks: unknown[];
  privateMetadata: string;
  callbackId: string;
  /** How many times it was published. */
  publishes: number;
}

/** Emitted as `"home"` on the emulator's events for every publish. */
export interface HomeViewEvent {
  user: string;
  blocks: unknown[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The Home views of the workspace's users, and the `views.publish` method. */
export class HomeViews {
  private readonly byUser = new Map<string, PublishedHomeView>();
  private hashCounter = 0;

  constructor(
    private readonly workspace: Workspace,
    private readonly limits: SlackLimits,
    private readonly events: EventEmitter,
    /** Whether the app's manifest turns the Home tab on (`features.app_home.home_tab_enabled`). */
    private readonly homeTabEnabled: boolean,
  ) {}

  /** The user's current Home view, as a copy. */
  get(userId: string): PublishedHomeView | undefined {
    const v = this.byUser.get(userId);
    return v === undefined ? undefined : structuredClone(v);
  }

  /** The view as Slack returns it (`views.publish`'s `view`, `app_home_opened`'s `view`). */
  viewJson(v: PublishedHomeView): Record<string, unknown> {
    return {
      id: v.id,
      team_id: this.workspace.teamId,
      type: "home",
      close: null,
      submit: null,
      blocks: v.blocks,
      private_metadata: v.privateMetadata,
      callback_id: v.callbackId,
      state: { values: {} },
      hash: v.hash,
      clear_on_close: false,
      notify_on_close: false,
      root_view_id: v.id,
      previous_view_id: null,
      app_id: API_APP_ID,
      external_id: "",
      app_installed_team_id: this.workspace.teamId,
      bot_id: BOT_ID,
    };
  }

  /** `views.publish`. */
  publish(p: Params): ApiAnswer {
    const invalid = (...messages: string[]) =>
      fail("invalid_arguments", { response_metadata: { messages: messages.map((m) => `[ERROR] ${m}`) } });
    const userArg = str(p.user_id);
    if (userArg === undefined || userArg === "") return invalid("missing required field: user_id");
    const user = this.workspace.users.find((u) => u.id === userArg);
    if (!user) return invalid("invalid `user_id`");
    if (p.view === undefined || p.view === "") return invalid("missing required field: view");
    const raw = typeof p.view === "string" ? p.view : JSON.stringify(p.view);
    if (Buffer.byteLength(raw, "utf8") > VIEW_MAX_BYTES) return fail("view_too_large");
    let view: unknown;
    try {
      view = JSON.parse(raw);
    } catch {
      return invalid("failed to parse the view: it must be a JSON-encoded string [json-pointer:/view]");
    }
    if (!isObject(view)) return invalid("must provide an object [json-pointer:/view]");
    if (view.type !== "home") {
      return invalid("must be one of the allowed values: home [json-pointer:/view/type]");
    }
    if (!this.homeTabEnabled) return fail("not_enabled");
    const problems = validateBlocks(view.blocks, { ...this.limits, blocksPerMessage: HOME_VIEW_MAX_BLOCKS })
      // Slack points into the view: /view/blocks/…
      .map((problem) => problem.replace("[json-pointer:/blocks", "[json-pointer:/view/blocks"));
    for (const [field, max] of [
      ["private_metadata", VIEW_PRIVATE_METADATA_MAX_CHARS],
      ["callback_id", VIEW_CALLBACK_ID_MAX_CHARS],
    ] as const) {
      const value = view[field];
      if (value === undefined) continue;
      if (typeof value !== "string") problems.push(`must provide a string [json-pointer:/view/${field}]`);
      else if (value.length > max) {
        problems.push(`must be less than ${max + 1} characters [json-pointer:/view/${field}]`);
      }
    }
    if (problems.length > 0) return invalid(...problems);
    const existing = this.byUser.get(user.id);
    const hash = str(p.hash);
    if (hash !== undefined && hash !== "" && existing !== undefined && hash !== existing.hash) {
      return fail("hash_conflict");
    }
    this.hashCounter += 1;
    const published: PublishedHomeView = {
      user: user.id,
      id: existing?.id ?? `V${randomBytes(VIEW_ID_RANDOM_BYTES).toString("hex").toUpperCase()}`,
      hash: `${Math.floor(Date.now() / 1000)}.${String(this.hashCounter).padStart(8, "0")}`,
      blocks: view.blocks as unknown[],
      privateMetadata: typeof view.private_metadata === "string" ? view.private_metadata : "",
      callbackId: typeof view.callback_id === "string" ? view.callback_id : "",
      publishes: (existing?.publishes ?? 0) + 1,
    };
    this.byUser.set(user.id, published);
    const event: HomeViewEvent = { user: user.id, blocks: published.blocks };
    this.events.emit("home", event);
    return ok({ view: this.viewJson(published) });
  }
}
