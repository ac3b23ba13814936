/**
 * `virsh cpu-compare` and `virsh capabilities` on a lab host, answered for the host's declared CPU
 * (`<stateDir>/<host>/declared-cpu.xml`); run by the host's `/usr/local/sbin/virsh` wrapper.
 * Output, error lines and exit statuses are virsh's.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { REAL_VIRSH } from "./agent";
import { capabilitiesWithDeclaredCpu, compareWithDeclaredCpu } from "./declared-cpu";
import { runCommand } from "./exec";

/** virsh capabilities answers in milliseconds. */
const CAPABILITIES_TIMEOUT_MS = 15_000;

const stateDir = process.env.MIGBOT_LAB_STATE_DIR;
if (stateDir === undefined) {
  console.error("error: MIGBOT_LAB_STATE_DIR is not set (this wrapper runs inside a migbot lab host)");
  process.exit(1);
}
const declaredPath = join(stateDir, hostname(), "declared-cpu.xml");
const args = process.argv.slice(2);
const connect: string[] = [];
let i = 0;
for (; i < args.length; i++) {
  const a = args[i]!;
  if (a === "-c" || a === "--connect") {
    connect.push(a, args[i + 1] ?? "");
    i++;
  } else if (!a.startsWith("-")) break;
}
const sub = args[i];
const rest = args.slice(i + 1);

if (sub === "capabilities") {
  const real = await runCommand([REAL_VIRSH, ...connect, "capabilities", ...rest], {
    timeoutMs: CAPABILITIES_TIMEOUT_MS,
  });
  if (real.code !== 0) {
    process.stderr.write(real.stderr);
    process.exit(real.code ?? 1);
  }
  process.stdout.write(capabilitiesWithDeclaredCpu(real.stdout, readFileSync(declaredPath, "utf8")));
  process.exit(0);
}

let file: string | undefined;
let error = false;
for (let j = 0; j < rest.length; j++) {
  const a = rest[j]!;
  if (a === "--error") error = true;
  else if (a === "--validate") continue;
  else if (a === "--file") file = rest[++j];
  else if (!a.startsWith("-")) file = a;
}
if (file === undefined) {
  process.stderr.write("error: command 'cpu-compare' requires <file> option\n");
  process.exit(1);
}
let xml: string;
try {
  xml = readFileSync(file, "utf8");
} catch (err) {
  process.stderr.write(`error: Failed to read file '${file}' to compare: ${(err as Error).message}\n`);
  process.exit(1);
}
const answer = await compareWithDeclaredCpu(xml, declaredPath, file, { error });
(answer.compatible
  ? process.stdout
  : answer.result === "incompatible" && !error
    ? process.stdout
    : process.stderr
).write(answer.text);
process.exit(answer.exitCode);
