/**
 * Entry point of a lab host's nova-compute agent, started inside the host's namespaces by the
 * host's `systemctl start nova-compute` (see host-scripts.ts):
 * `node --import tsx src/lab/agent-main.ts --host cmpN --state-dir DIR --release mitaka|zed`.
 * Exit 1 when the config cannot be loaded (the unit is then `failed`), 0 after SIGTERM.
 */

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { AgentConfigError, NovaComputeAgent } from "./agent";
import { agentPidPath, agentUnitStatePath } from "./agent-protocol";

function option(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : undefined;
  if (value === undefined) {
    console.error(
      `agent-main: --${name} is required (usage: --host cmpN --state-dir DIR --release mitaka|zed)`,
    );
    process.exit(2);
  }
  return value;
}

const host = option("host");
const stateDir = option("state-dir");
const release = option("release");
writeFileSync(agentPidPath(stateDir, host), `${process.pid}\n`);
const agent = new NovaComputeAgent({
  host,
  stateDir,
  release,
  declaredCpuPath: join(stateDir, host, "declared-cpu.xml"),
});
try {
  await agent.start();
} catch (err) {
  if (err instanceof AgentConfigError) {
    // systemd would show the unit failed: the process died on its config.
    writeFileSync(agentUnitStatePath(stateDir, host), "failed\n");
    process.exit(1);
  }
  throw err;
}
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    void agent.stop().finally(() => process.exit(0));
  });
}
