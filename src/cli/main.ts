/**
 * The `migbot` command line: one subcommand per module, each loaded only when asked for so that
 * `migbot analyze` does not pay for Bolt, BullMQ or ssh2 at start-up.
 */
export interface CliCommand {
  /** One line for `migbot help`. */
  summary: string;
  /** Runs the command; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<CliCommand>> = {
  start: async () => (await import("./start")).command,
  sandbox: async () => (await import("./sandbox")).command,
  analyze: async () => (await import("./analyze")).command,
  "nova-conf": async () => (await import("./nova-conf")).command,
  bench: async () => (await import("./bench")).command,
  lab: async () => (await import("./lab")).command,
  keys: async () => (await import("./keys")).command,
};

function usage(): string {
  return [
    "usage: migbot <command> [options]",
    "",
    "commands:",
    "  start       run the bot (on the built-in sandbox when no Slack credentials are set)",
    "  sandbox     run the built-in cloud alone and print how to reach it",
    "  analyze     judge a captured series of virsh domjobinfo / QMP query-migrate outputs",
    "  nova-conf   plan or apply a nova.conf fix (auto-converge, cpu-model)",
    "  bench       run the benchmarks",
    "  lab         real compute hosts in network namespaces (root only)",
    "  keys        print a fresh set of the bot's and the workers' keys",
    "",
    "`migbot <command> --help` says more.",
  ].join("\n");
}

/** Dispatches argv (without node and script) to a subcommand; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    console.error(`migbot: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  let command: CliCommand;
  try {
    command = await load();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND") {
      // Say what is missing: a packaging slip (a folder left out of an image) must not read as a
      // feature that does not exist.
      console.error(
        `migbot: '${name}' could not load: ${(err as Error).message.split("\n")[0]}. Reinstall migbot (npm ci) or rebuild the image.`,
      );
      return 2;
    }
    throw err;
  }
  return command.run(rest);
}
