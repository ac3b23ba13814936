/**
 * Who may do what: operators migrate, diagnose and abort; approvers approve fixes and force-complete.
 * Entries are Slack user ids (U…) or user-group ids (S…); group members are read from Slack and
 * cached, so that the check never holds up an ack for long.
 */
import type { AccessConfig } from "../src/config";
import type { Logger } from "../src/log";

/** Group membership is refreshed after this long. */
export const GROUP_CACHE_TTL_MS = 5 * 60 * 1000;
/** A cold group lookup waits at most this long before the ack (Slack's deadline is 3 s). */
export const GROUP_LOOKUP_TIMEOUT_MS = 1200;

export type Role = "operator" | "approver";

/** Reads a user group's members (usergroups.users.list). */
export type GroupMembers = (groupId: string) => Promise<string[]>;

export class AccessControl {
  private readonly cache = new Map<string, { users: Set<string>; at: number }>();

  constructor(
    private readonly config: AccessConfig,
    private readonly members: GroupMembers,
    private readonly log: Logger,
  ) {}

  /** Only the configured channels: none configured means none allowed (fail closed), DMs included. */
  channelAllowed(channel: string): boolean {
    return this.config.channels.includes(channel);
  }

  get allowSelfApproval(): boolean {
    return this.config.allowSelfApproval;
  }

  /** Does the user hold the role, directly or through a user group? */
  async has(user: string, role: Role): Promise<boolean> {
    const entries = role === "operator" ? this.config.operators : this.config.approvers;
    if (entries.includes(user)) return true;
    for (const group of entries.filter((e) => e.startsWith("S"))) {
      const users = await this.groupUsers(group);
      if (users.has(user)) return true;
    }
    return false;
  }

  private async groupUsers(group: string): Promise<Set<string>> {
    const cached = this.cache.get(group);
    if (cached && Date.now() - cached.at < GROUP_CACHE_TTL_MS) return cached.users;
    try {
      const users = await withTimeout(this.members(group), GROUP_LOOKUP_TIMEOUT_MS);
      const set = new Set(users);
      this.cache.set(group, { users: set, at: Date.now() });
      return set;
    } catch (err) {
      this.log.warn("user group lookup failed; using the last known members", { group, err });
      return cached?.users ?? new Set();
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** The sentence a refused user reads. */
export function refusal(role: Role, what: string): string {
  return role === "operator"
    ? `Only migbot operators may ${what}. Ask your cloud team to add you (or your user group) to MIGBOT_OPERATORS.`
    : `Only migbot approvers may ${what}. Ask an approver to do it, or to add you to MIGBOT_APPROVERS.`;
}
