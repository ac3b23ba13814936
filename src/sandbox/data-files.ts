import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Folder of the real files the sandbox starts from (see data/SOURCES.md). */
export const SANDBOX_DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), "data");

/** A file under `src/sandbox/data/`, as text. */
export function readSandboxData(relative: string): string {
  return readFileSync(join(SANDBOX_DATA_DIR, relative), "utf8");
}
