import { spawn } from "node:child_process";
import { LabError } from "./errors";

/** Output of a finished command. */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A command that did not finish within its time limit is killed with this signal. */
const TIMEOUT_SIGNAL: NodeJS.Signals = "SIGKILL";
/** Output kept per stream: enough for any error message, bounded so a chatty command cannot eat memory. */
const MAX_OUTPUT_BYTES = 1024 * 1024;

/** PATH with the sbin folders, which a non-login root shell may lack (ip, sshd, libvirtd live there). */
export function labPath(env: NodeJS.ProcessEnv = process.env): string {
  const parts = (env.PATH ?? "").split(":").filter(Boolean);
  for (const dir of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    if (!parts.includes(dir)) parts.push(dir);
  }
  return parts.join(":");
}

/** Runs a program (no shell) and collects its output; never rejects, except when it cannot be started. */
export function runCommand(
  argv: string[],
  options: { timeoutMs: number; input?: string; env?: NodeJS.ProcessEnv },
): Promise<CommandResult> {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error("runCommand: empty argv");
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      env: { ...(options.env ?? process.env), PATH: labPath(options.env) },
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      if (stdout.length < MAX_OUTPUT_BYTES) stdout += chunk.toString("utf8");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      if (stderr.length < MAX_OUTPUT_BYTES) stderr += chunk.toString("utf8");
    });
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeoutMs} ms]`;
      child.kill(TIMEOUT_SIGNAL);
    }, options.timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (child.stdin !== null) {
      // A program that exits without reading its input must not crash us with EPIPE.
      child.stdin.on("error", () => {});
      child.stdin.end(options.input);
    }
  });
}

/** Runs a program and throws a LAB_COMMAND_FAILED error (with its stderr) unless it exits 0. */
export async function mustRun(
  argv: string[],
  options: { timeoutMs: number; input?: string; what?: string },
): Promise<string> {
  const result = await runCommand(argv, options);
  if (result.code !== 0) {
    const what = options.what ?? argv.join(" ");
    const detail = (result.stderr || result.stdout).trim().split("\n").slice(-5).join("\n");
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `${what} failed (exit ${result.code ?? result.signal}): ${detail} — see the message above; \`migbot lab down\` cleans up what was made`,
    );
  }
  return result.stdout;
}

/** Sleeps without holding the event loop. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
