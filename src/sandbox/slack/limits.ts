/**
 * Slack's documented limits, in one place, so the emulator refuses what real Slack refuses.
 *
 * Sources (docs.slack.dev, 2025): "Rate limits" (tiers, and chat.postMessage's special tier of about
 * one message per second per channel with short bursts), each method's reference page (its tier),
 * the Block Kit reference (per-block and per-element character limits), "Handling user interaction"
 * (response_url: up to 5 uses within 30 minutes), the 2018-04 changelog "truncating really long
 * messages" (top-level `text` cut after 40,000 characters) and "Implementing slash commands" (3 s
 * to acknowledge). Files: the reference pages of files.getUploadURLExternal and
 * files.completeUploadExternal (Tier 4 each; `alt_txt` up to 1,000 characters) and "Uploading files"
 * (files up to 1 GB).
 */

/** A token bucket: `burst` calls may come at once, then `perMinute` calls a minute refill it. */
export interface RateLimit {
  /** Sustained calls per minute. */
  perMinute: number;
  /** Calls allowed back to back before the rate applies. */
  burst: number;
  /** Whether one bucket serves the whole workspace or each channel has its own. */
  scope: "workspace" | "channel";
}

/** Slack's documented tiers ("N+ per minute"; bursts tolerated, their size not documented). */
export const TIER_1: RateLimit = { perMinute: 1, burst: 1, scope: "workspace" };
export const TIER_2: RateLimit = { perMinute: 20, burst: 20, scope: "workspace" };
export const TIER_3: RateLimit = { perMinute: 50, burst: 50, scope: "workspace" };
export const TIER_4: RateLimit = { perMinute: 100, burst: 100, scope: "workspace" };

export interface SlackLimits {
  /**
   * Per Web API method. Slack applies limits "per API method per workspace per app".
   * @defaultValue chat.postMessage 60/min per channel with a burst of 5 (special tier: "one message per
   * second per channel", "short bursts >1 allowed" — the burst size is not documented; 5 is our choice);
   * chat.update, chat.delete, conversations.info Tier 3; chat.postEphemeral, users.info Tier 4;
   * usergroups.users.list Tier 2; chat.getPermalink and auth.test (special, generous) as Tier 4;
   * files.getUploadURLExternal, files.completeUploadExternal and views.publish Tier 4.
   */
  rates: Record<string, RateLimit>;
  /** Blocks in one message. @defaultValue 50 */
  blocksPerMessage: number;
  /** Section block `text.text`. @defaultValue 3000 */
  sectionTextMaxChars: number;
  /** Section block `fields` items. @defaultValue 10 */
  sectionFieldsMax: number;
  /** Each section field's text. @defaultValue 2000 */
  sectionFieldMaxChars: number;
  /** Header block text (plain_text). @defaultValue 150 */
  headerTextMaxChars: number;
  /** Context block elements. @defaultValue 10 */
  contextElementsMax: number;
  /** Actions block elements. @defaultValue 25 */
  actionsElementsMax: number;
  /** Button `text.text`. @defaultValue 75 */
  buttonTextMaxChars: number;
  /** Button `value`. @defaultValue 2000 */
  buttonValueMaxChars: number;
  /** Button `url`, image `image_url`. @defaultValue 3000 */
  urlMaxChars: number;
  /** Any `action_id`. @defaultValue 255 */
  actionIdMaxChars: number;
  /** Any `block_id`. @defaultValue 255 */
  blockIdMaxChars: number;
  /** Confirmation dialog title. @defaultValue 100 */
  confirmTitleMaxChars: number;
  /** Confirmation dialog text. @defaultValue 300 */
  confirmTextMaxChars: number;
  /** Confirmation dialog confirm / deny button labels. @defaultValue 30 */
  confirmButtonMaxChars: number;
  /** Image `alt_text`. @defaultValue 2000 */
  altTextMaxChars: number;
  /** Top-level message `text`; longer text is truncated (as Slack does since 2018). @defaultValue 40000 */
  messageTextMaxChars: number;
  /** Largest file files.getUploadURLExternal accepts, bytes. @defaultValue 1 GiB (Slack: files up to 1 GB) */
  fileMaxBytes: number;
  /** A file's `alt_txt`. @defaultValue 1000 */
  fileAltTextMaxChars: number;
  /** Uses of one response_url. @defaultValue 5 */
  responseUrlMaxUses: number;
  /** Lifetime of a response_url, in ms. @defaultValue 1_800_000 (30 minutes) */
  responseUrlTtlMs: number;
}

/** Slack's numbers. Tests pass tighter ones through `SlackEmulatorOptions.limits`. */
export const DEFAULT_SLACK_LIMITS: SlackLimits = {
  rates: {
    "chat.postMessage": { perMinute: 60, burst: 5, scope: "channel" },
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "chat.postEphemeral": TIER_4,
    "chat.getPermalink": TIER_4,
    "conversations.info": TIER_3,
    "users.info": TIER_4,
    "usergroups.users.list": TIER_2,
    "auth.test": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "views.publish": TIER_4,
  },
  blocksPerMessage: 50,
  sectionTextMaxChars: 3000,
  sectionFieldsMax: 10,
  sectionFieldMaxChars: 2000,
  headerTextMaxChars: 150,
  contextElementsMax: 10,
  actionsElementsMax: 25,
  buttonTextMaxChars: 75,
  buttonValueMaxChars: 2000,
  urlMaxChars: 3000,
  actionIdMaxChars: 255,
  blockIdMaxChars: 255,
  confirmTitleMaxChars: 100,
  confirmTextMaxChars: 300,
  confirmButtonMaxChars: 30,
  altTextMaxChars: 2000,
  messageTextMaxChars: 40_000,
  fileMaxBytes: 1024 ** 3,
  fileAltTextMaxChars: 1000,
  responseUrlMaxUses: 5,
  responseUrlTtlMs: 30 * 60_000,
};

/** Merges overrides onto Slack's defaults; `rates` merges per method. */
export function resolveLimits(overrides: Partial<SlackLimits> = {}): SlackLimits {
  return {
    ...DEFAULT_SLACK_LIMITS,
    ...overrides,
    rates: { ...DEFAULT_SLACK_LIMITS.rates, ...overrides.rates },
  };
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Token buckets per (method, scope key). Returns 0 when a call may go, else seconds to wait. */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly rates: Record<string, RateLimit>,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** Takes one token for `method` (per `channel` when the method is limited per channel). */
  take(method: string, channel?: string): { allowed: true } | { allowed: false; retryAfterS: number } {
    const rate = this.rates[method];
    if (!rate) return { allowed: true };
    const key = rate.scope === "channel" ? `${method}\u0000${channel ?? ""}` : method;
    const now = this.nowMs();
    const perMs = rate.perMinute / 60_000;
    const bucket = this.buckets.get(key) ?? { tokens: rate.burst, updatedMs: now };
    bucket.tokens = Math.min(rate.burst, bucket.tokens + (now - bucket.updatedMs) * perMs);
    bucket.updatedMs = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    // Slack's Retry-After is whole seconds; never 0, or a client would retry at once.
    const waitMs = (1 - bucket.tokens) / perMs;
    return { allowed: false, retryAfterS: Math.max(1, Math.ceil(waitMs / 1000)) };
  }
}
