import { LabError } from "../lab/errors";
import { allUp, describeStatus, labDown, labStatus, labUp } from "../lab/lab";
import { DEFAULT_HOST_COUNT, DEFAULT_STATE_DIR } from "../lab/plan";
import type { CliCommand } from "./main";

const USAGE = [
  "usage: migbot lab up [--hosts N] [--state-dir DIR] [--openstack]",
  "                                                    start N compute hosts (default 3) in network namespaces;",
  "                                                    --openstack: real OpenStack Zed (Debian's packages) in",
  "                                                    front of them, a real nova-compute in each (docs/lab.md)",
  "       migbot lab down [--state-dir DIR]             stop them all by recorded PID; leaves nothing behind",
  "       migbot lab status [--state-dir DIR]           what is running",
  "",
  `Root only. State, keys and the inventory live in DIR (default ${DEFAULT_STATE_DIR}).`,
  "Exit codes: 0 ok, 1 failed, 2 usage or not root, 3 namespaces not permitted here, 4 programs missing,",
  "5 a lab is already up, 6 no lab is up.",
].join("\n");

interface LabArgs {
  action: "up" | "down" | "status";
  hosts: number;
  stateDir: string;
  openstack: boolean;
}

function parseArgs(argv: string[]): LabArgs {
  const [action, ...rest] = argv;
  if (action !== "up" && action !== "down" && action !== "status") {
    throw new LabError("LAB_USAGE", `expected up, down or status, got '${action ?? ""}'\n\n${USAGE}`);
  }
  const args: LabArgs = { action, hosts: DEFAULT_HOST_COUNT, stateDir: DEFAULT_STATE_DIR, openstack: false };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[i + 1];
    if (flag === "--openstack" && action === "up") {
      args.openstack = true;
    } else if (flag === "--hosts" && action === "up" && value !== undefined) {
      args.hosts = Number(value);
      i++;
    } else if (flag === "--state-dir" && value !== undefined) {
      args.stateDir = value;
      i++;
    } else {
      throw new LabError(
        "LAB_USAGE",
        `unknown or incomplete option '${flag}' for 'lab ${action}'\n\n${USAGE}`,
      );
    }
  }
  return args;
}

export const command: CliCommand = {
  summary: "real compute hosts in network namespaces (root only)",
  async run(argv) {
    if (argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      console.log(USAGE);
      return 0;
    }
    try {
      const args = parseArgs(argv);
      if (process.getuid?.() !== 0) {
        throw new LabError(
          "LAB_NOT_ROOT",
          `the lab must run as root (it creates network namespaces, mounts and daemons) — run \`sudo npm run lab -- ${args.action}\``,
        );
      }
      if (args.action === "up") {
        await labUp({ hosts: args.hosts, stateDir: args.stateDir, openstack: args.openstack });
        return 0;
      }
      if (args.action === "down") {
        await labDown(args.stateDir);
        return 0;
      }
      const status = await labStatus(args.stateDir);
      console.log(describeStatus(status));
      return allUp(status) ? 0 : 1;
    } catch (err) {
      if (err instanceof LabError) {
        console.error(`migbot lab: [${err.code}] ${err.message}`);
        return err.exitCode;
      }
      throw err;
    }
  },
};
