/**
 * Who is in the emulated Slack workspace: the team, the app's bot user, and the people, channels
 * and user groups the emulator was started with, found by id or by name (`@olivia`, `#ops`).
 */
import { SlackEmulatorError } from "./errors";

export interface EmulatedUser {
  /** `U…` */
  id: string;
  name: string;
  realName?: string;
}

export interface EmulatedChannel {
  /** `C…` */
  id: string;
  name: string;
}

export interface EmulatedUsergroup {
  /** `S…` */
  id: string;
  handle: string;
  users: string[];
}

/** The app the emulator plays Slack for. */
export const API_APP_ID = "A0MIGBOT01";
/** The app's bot and its user (what `auth.test` answers for the bot token). */
export const BOT_ID = "B0MIGBOT01";
export const BOT_USER_ID = "U0MIGBOT01";
export const TEAM_DOMAIN = "migbot-sandbox";
export const DEFAULT_TEAM_ID = "T0SANDBOX";
/** The legacy `token` field of deliveries; Bolt checks the signature, not this. */
export const VERIFICATION_TOKEN = "emulated-verification-token";

export class Workspace {
  constructor(
    readonly teamId: string,
    readonly users: readonly EmulatedUser[],
    readonly channels: readonly EmulatedChannel[],
    readonly usergroups: readonly EmulatedUsergroup[],
  ) {}

  findUser(idOrName: string): EmulatedUser | undefined {
    const wanted = idOrName.replace(/^@/, "");
    return this.users.find((u) => u.id === wanted || u.name === wanted);
  }

  findChannel(idOrName: string): EmulatedChannel | undefined {
    const wanted = idOrName.replace(/^#/, "");
    return this.channels.find((c) => c.id === wanted || c.name === wanted);
  }

  /** The user and channel a test names, or an error listing who and what there is. */
  resolveUserAndChannel(
    userArg: string,
    channelArg: string,
  ): { user: EmulatedUser; channel: EmulatedChannel } {
    const user = this.findUser(userArg);
    if (!user) {
      throw new SlackEmulatorError(
        "EMU_UNKNOWN_USER",
        `no user "${userArg}" in the emulated workspace; known: ${this.users.map((u) => u.name).join(", ")}`,
      );
    }
    const channel = this.findChannel(channelArg);
    if (!channel) {
      throw new SlackEmulatorError(
        "EMU_UNKNOWN_CHANNEL",
        `no channel "${channelArg}" in the emulated workspace; known: ${this.channels.map((c) => c.name).join(", ")}`,
      );
    }
    return { user, channel };
  }
}
