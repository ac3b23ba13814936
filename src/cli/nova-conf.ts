import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chown, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { FIX_KINDS, type FixKind, type NovaConfPlan, planNovaConfFix } from "../fixes/nova-conf-plan";
import { NovaConfError } from "../nova-conf/errors";
import { KNOWN_RELEASES, releaseByName } from "../nova-conf/releases";
import type { CliCommand } from "./main";

const USAGE = `usage: migbot nova-conf plan --fix auto-converge|cpu-model --release <name> [--model <m>] [--write] FILE...

Prints, as a unified diff, the nova.conf change that applies the fix on a host of that OpenStack
release; prints nothing (exit 0) when the fix is already in effect.

  --fix auto-converge   Mitaka: add VIR_MIGRATE_AUTO_CONVERGE to [libvirt] live_migration_flag and
                        block_migration_flag (block migrations, every VM on a local disk, use the
                        second); Newton and later: [libvirt] live_migration_permit_auto_converge = true
  --fix cpu-model       [libvirt] cpu_mode = custom and cpu_model (before Train) or cpu_models
                        (Train and later) = the model; cpu_model_extra_flags stay as they are
  --release <name>      ${releaseNames()}, or a nova version such as 26.2.2
  --model <m>           libvirt CPU model for --fix cpu-model (default kvm64)
  --write               apply the change: temp file in the same folder, fsync, rename over the
                        original, owner and mode kept
  FILE...               nova-compute's config files in the order it reads them, e.g.
                        /etc/nova/nova.conf /etc/nova/nova-compute.conf (later files override)

Exit codes: 0 done (or nothing to do), 1 a file changed while planning or could not be written,
2 bad arguments or a file that does not parse (no file is touched then).`;

/** "mitaka … zed, 2023.1 … 2026.1": the release names --release takes, from src/nova-facts. */
function releaseNames(): string {
  const named = KNOWN_RELEASES.filter((r) => r.series === undefined);
  const series = KNOWN_RELEASES.filter((r) => r.series !== undefined);
  return `${named[0]!.name} … ${named.at(-1)!.name}, ${series[0]!.series} … ${series.at(-1)!.series}`;
}

interface Args {
  fix: FixKind;
  release: string;
  model?: string;
  write: boolean;
  files: string[];
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Args | "help" {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") return "help";
  if (sub !== "plan") throw new UsageError(`unknown subcommand '${sub}' (only 'plan' exists)`);
  let fix: string | undefined;
  let release: string | undefined;
  let model: string | undefined;
  let write = false;
  const files: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const value = (): string => {
      const v = rest[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === "--help" || a === "-h") return "help";
    else if (a === "--fix") fix = value();
    else if (a.startsWith("--fix=")) fix = a.slice(6);
    else if (a === "--release") release = value();
    else if (a.startsWith("--release=")) release = a.slice(10);
    else if (a === "--model") model = value();
    else if (a.startsWith("--model=")) model = a.slice(8);
    else if (a === "--write") write = true;
    else if (a === "--") {
      files.push(...rest.slice(i + 1));
      break;
    } else if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`);
    else files.push(a);
  }
  if (!fix || !FIX_KINDS.includes(fix as FixKind))
    throw new UsageError(`--fix must be one of ${FIX_KINDS.join(", ")}`);
  if (!release) throw new UsageError("--release is required (e.g. --release zed)");
  if (files.length === 0) throw new UsageError("give at least one config file");
  if (model !== undefined && fix !== "cpu-model")
    throw new UsageError("--model only goes with --fix cpu-model");
  return { fix: fix as FixKind, release, ...(model !== undefined ? { model } : {}), write, files };
}

/** Writes `text` over `path` atomically, keeping its mode and owner: same-folder temp, fsync, rename. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const st = await stat(path);
  const tmp = join(dirname(path), `.${basename(path)}.migbot-tmp-${randomBytes(6).toString("hex")}`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, st.mode & 0o7777);
  try {
    try {
      await fh.writeFile(text, "utf8");
      // Mode again explicitly: the umask applied at creation may have cleared bits.
      await fh.chmod(st.mode & 0o7777);
      if (process.getuid?.() === 0 || st.uid !== process.getuid?.() || st.gid !== process.getgid?.()) {
        await chown(tmp, st.uid, st.gid);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // The rename itself is durable only once the folder is synced.
  const dir = await open(dirname(path), constants.O_RDONLY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

async function run(argv: string[]): Promise<number> {
  let args: Args | "help";
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`migbot nova-conf: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (args === "help") {
    console.log(USAGE);
    return 0;
  }
  const files: { path: string; text: string }[] = [];
  for (const path of args.files) {
    try {
      files.push({ path, text: await readFile(path, "utf8") });
    } catch (err) {
      console.error(
        `migbot nova-conf: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
      return 2;
    }
  }
  let plan: NovaConfPlan;
  try {
    const release = releaseByName(args.release);
    // Parses every file before any is edited: one broken file stops the whole plan.
    plan = planNovaConfFix(args.fix, files, release, args.model !== undefined ? { model: args.model } : {});
  } catch (err) {
    if (err instanceof NovaConfError) {
      console.error(`migbot nova-conf: ${err.code}: ${err.message}`);
      return 2;
    }
    throw err;
  }
  for (const w of plan.warnings) console.error(`warning: ${w}`);
  for (const f of plan.files) process.stdout.write(f.diff);
  if (!args.write || plan.files.length === 0) return 0;

  for (const f of plan.files) {
    const now = await readFile(f.path, "utf8");
    if (now !== f.before) {
      console.error(
        `migbot nova-conf: ${f.path} changed while the plan was made; nothing written. Run the command again.`,
      );
      return 1;
    }
  }
  for (const f of plan.files) {
    try {
      await writeAtomically(f.path, f.after);
      console.error(`wrote ${f.path} (${f.changedKeys.join(", ")})`);
    } catch (err) {
      console.error(`migbot nova-conf: could not write ${f.path}: ${(err as Error).message}`);
      return 1;
    }
  }
  return 0;
}

export const command: CliCommand = {
  summary: "plan or apply a nova.conf fix (auto-converge, cpu-model) as a minimal, proven diff",
  run,
};
