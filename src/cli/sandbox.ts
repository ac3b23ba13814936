import { parseArgs } from "node:util";
import { createLogger } from "../log";
import type { CliCommand } from "./main";

const HELP = `usage: migbot sandbox [--time-scale N] [--data-dir D]

Runs the built-in sandbox cloud on its own (compute hosts behind real SSH, a Keystone + Nova API on
loopback) and prints how to reach it. Runs until interrupted (Ctrl-C).

  --time-scale N   model seconds per real second (default 10; 0 = frozen clock)
  --data-dir D     keep host keys, the client key, clouds.yaml and the inventory here
                   (default: a new temporary folder; reuse one to keep host keys stable)`;

export const command: CliCommand = {
  summary: "run the built-in cloud alone and print how to reach it",
  async run(argv) {
    let values: { "time-scale"?: string; "data-dir"?: string; help?: boolean };
    try {
      ({ values } = parseArgs({
        args: argv,
        options: {
          "time-scale": { type: "string" },
          "data-dir": { type: "string" },
          help: { type: "boolean", short: "h" },
        },
      }));
    } catch (err) {
      console.error(`migbot sandbox: ${(err as Error).message}\n\n${HELP}`);
      return 2;
    }
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const timeScale = values["time-scale"] === undefined ? undefined : Number(values["time-scale"]);
    if (timeScale !== undefined && (!Number.isFinite(timeScale) || timeScale < 0)) {
      console.error("migbot sandbox: --time-scale must be a number >= 0 (model seconds per real second)");
      return 2;
    }
    const { startSandbox } = await import("../sandbox/index");
    const sandbox = await startSandbox({
      timeScale,
      dataDir: values["data-dir"],
      log: createLogger("sandbox"),
    });
    const lines = [
      "migbot sandbox is running. Compute hosts (user root):",
      "",
      ...sandbox.hosts.map(
        (h) =>
          `  ${h.name.padEnd(10)} ${h.address}:${String(h.port).padEnd(6)} ${(h.release ?? "").padEnd(7)} ${h.hostKeyFingerprints?.[0] ?? ""}`,
      ),
      "",
      `private key:  ${sandbox.privateKeyPath}`,
      `inventory:    ${sandbox.inventoryPath}`,
      `clouds.yaml:  ${sandbox.cloudsYamlPath}   (cloud "migbot-sandbox"; OS_CLOUD=migbot-sandbox)`,
      `keystone:     ${sandbox.keystoneUrl}`,
      `nova:         ${sandbox.novaUrl}`,
      "",
      "Try:",
      `  ssh -p ${sandbox.hosts[0]?.port} -i ${sandbox.privateKeyPath} -o StrictHostKeyChecking=no root@127.0.0.1 virsh list --all`,
      "",
      "clouds.yaml:",
      sandbox.cloudsYaml.replace(/^/gm, "  "),
      "Ctrl-C stops it.",
    ];
    console.log(lines.join("\n"));
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      process.once("SIGINT", done);
      process.once("SIGTERM", done);
    });
    await sandbox.stop();
    console.log("migbot sandbox stopped");
    return 0;
  },
};
