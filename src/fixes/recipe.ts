/**
 * A nova.conf fix, planned on one host and made again when it is applied. The plan keeps no file
 * text (Redis must not hold nova.conf's passwords): it keeps the fix and each input file's hash.
 * At apply time the worker re-reads the files, checks the hashes, plans the same fix again and
 * checks that the result hashes to what was approved, then writes that result.
 */
import type { ConfigFile } from "../nova-conf/effective";
import { type ReleaseInfo, releaseOf } from "../nova-conf/releases";
import { sha256Hex } from "../signing/signatures";
import { FixError } from "./errors";
import { type FixKind, type NovaConfPlan, planNovaConfFix } from "./nova-conf-plan";
import type { HostFileChange, HostRecipe } from "./proposal";

export interface HostFixDraft {
  plan: NovaConfPlan;
  changes: HostFileChange[];
  /** Null when the fix is already in effect on the host (nothing to change). */
  recipe: HostRecipe | null;
}

/** Plans `fix` on one host's files; throws what planNovaConfFix throws. */
export function draftHostFix(
  host: string,
  fix: FixKind,
  files: ConfigFile[],
  release: ReleaseInfo,
  opts: { model?: string } = {},
): HostFixDraft {
  const plan = planNovaConfFix(fix, files, release, opts);
  const changes: HostFileChange[] = plan.files.map((f) => ({
    host,
    path: f.path,
    beforeSha256: sha256Hex(f.before),
    afterSha256: sha256Hex(f.after),
    diff: f.diff,
    changedKeys: f.changedKeys,
  }));
  const recipe: HostRecipe | null =
    changes.length === 0
      ? null
      : {
          host,
          fix,
          // The point version decides some facts (backports), so it is kept when it was read.
          release: {
            name: release.name,
            major: release.major,
            ...(!release.versionAssumed && { version: release.version.join(".") }),
          },
          ...(fix === "cpu-model" && opts.model !== undefined && { model: opts.model }),
          inputs: files.map((f) => ({ path: f.path, sha256: sha256Hex(f.text) })),
        };
  return { plan, changes, recipe };
}

export interface ReplayedFix {
  /** Files still to write, with the content that hashes to the approved result. */
  pending: { change: HostFileChange; content: string }[];
  /** Files already holding the approved result (an apply taken over after a worker died). */
  done: HostFileChange[];
}

/**
 * Plans the host's fix again on `current` (every input file as read now) and checks it against
 * what was approved. Throws FIX_FILE_CHANGED when a file is neither as planned nor already
 * changed as approved, FIX_PLAN_MISMATCH when the edit no longer comes out as approved.
 */
export function replayHostFix(
  recipe: HostRecipe,
  changes: HostFileChange[],
  current: ConfigFile[],
): ReplayedFix {
  const byPath = new Map(current.map((f) => [f.path, f]));
  const done: HostFileChange[] = [];
  for (const input of recipe.inputs) {
    const file = byPath.get(input.path);
    if (file === undefined) {
      throw new FixError(
        "FIX_FILE_CHANGED",
        `refused: ${input.path} on ${recipe.host} could not be read again. Nothing was changed; run /diagnose again for a fresh plan.`,
      );
    }
    const now = sha256Hex(file.text);
    if (now === input.sha256) continue;
    const change = changes.find((c) => c.path === input.path);
    if (change !== undefined && now === change.afterSha256) {
      done.push(change);
      continue;
    }
    throw new FixError(
      "FIX_FILE_CHANGED",
      `refused: ${input.path} changed on ${recipe.host} since the plan was made. Nothing was changed; run /diagnose again for a plan against the current file.`,
    );
  }
  const inputs = recipe.inputs.map((i) => byPath.get(i.path)!);
  const plan = planNovaConfFix(
    recipe.fix,
    inputs,
    releaseOf(recipe.release),
    recipe.model !== undefined ? { model: recipe.model } : {},
  );
  const pending: ReplayedFix["pending"] = [];
  for (const f of plan.files) {
    const change = changes.find((c) => c.path === f.path);
    if (change === undefined || sha256Hex(f.after) !== change.afterSha256) {
      throw new FixError(
        "FIX_PLAN_MISMATCH",
        `refused: planned again on ${recipe.host}, the fix to ${f.path} does not come out as approved. Nothing was changed; run /diagnose again for a fresh plan.`,
      );
    }
    pending.push({ change, content: f.after });
  }
  const covered = new Set([...pending.map((p) => p.change.path), ...done.map((c) => c.path)]);
  const missing = changes.filter((c) => !covered.has(c.path));
  if (missing.length > 0) {
    throw new FixError(
      "FIX_PLAN_MISMATCH",
      `refused: planned again on ${recipe.host}, the fix no longer changes ${missing.map((c) => c.path).join(", ")} as approved. Nothing was changed; run /diagnose again for a fresh plan.`,
    );
  }
  return { pending, done };
}
