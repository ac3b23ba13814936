/** `migbot keys`: a fresh set of the keys that split trust between the bot and the workers. */
import { generateKeySet } from "../signing/keys";
import type { CliCommand } from "./main";

const USAGE = `usage: migbot keys

Prints a fresh MIGBOT_BOT_SIGNING_KEY, MIGBOT_BOT_VERIFY_KEY and MIGBOT_WORKER_KEY for .env.
Give the bot the signing key only; give every worker the verify key and the worker key (the same
ones on every worker). A key rotated on one side must be rotated on the other at the same time.`;

export const command: CliCommand = {
  summary: "print a fresh set of the bot's and the workers' keys",
  async run(argv) {
    if (argv.length > 0) {
      console.log(USAGE);
      return argv[0] === "--help" || argv[0] === "-h" ? 0 : 2;
    }
    const keys = generateKeySet();
    console.log(
      [
        "# The bot only: it signs every job (Ed25519 private key).",
        `MIGBOT_BOT_SIGNING_KEY=${keys.MIGBOT_BOT_SIGNING_KEY}`,
        "# Every worker: the bot's public key, to check each job.",
        `MIGBOT_BOT_VERIFY_KEY=${keys.MIGBOT_BOT_VERIFY_KEY}`,
        "# Every worker, the same on all of them: seals fix plans (HMAC-SHA256 key).",
        `MIGBOT_WORKER_KEY=${keys.MIGBOT_WORKER_KEY}`,
      ].join("\n"),
    );
    return 0;
  },
};
