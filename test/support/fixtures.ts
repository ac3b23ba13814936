import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root (the folder holding package.json). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** `../shared/fixtures` beside the project root, where CI lays a copy next to its clone. */
export const FIXTURES_DIR = resolve(PROJECT_ROOT, "../shared/fixtures");

/** Absolute path of a fixture, e.g. `fixturePath("libvirt-lab/domjobinfo-series-no-autoconverge.txt")`. */
export function fixturePath(relative: string): string {
  return resolve(FIXTURES_DIR, relative);
}

/** A fixture's text. */
export function readFixture(relative: string): string {
  return readFileSync(fixturePath(relative), "utf8");
}

/** A JSON fixture, parsed. */
export function readJsonFixture<T = unknown>(relative: string): T {
  return JSON.parse(readFixture(relative)) as T;
}
