/** Reads the lab transcripts in test/fixtures/libvirt-dirtyrate (see test/fixtures/SOURCES.md). */
import { readFileSync } from "node:fs";

const DIR = new URL("../fixtures/libvirt-dirtyrate/", import.meta.url);

/** A transcript's outputs: each `# $ <command>` line starts one, the lines up to the next are its stdout. */
export function transcript(name: string): { command: string; stdout: string }[] {
  const out: { command: string; stdout: string }[] = [];
  let inStderr = false;
  for (const line of readFileSync(new URL(name, DIR), "utf8").split("\n")) {
    const head = /^# \$ (.*?)\s+\(exit \d+\)$/.exec(line);
    if (head) {
      out.push({ command: head[1]!, stdout: "" });
      inStderr = false;
    } else if (line === "# stderr:") inStderr = true;
    else if (out.length > 0 && !inStderr && !line.startsWith("# ")) out.at(-1)!.stdout += `${line}\n`;
  }
  return out;
}
