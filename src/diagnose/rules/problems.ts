/** Evidence that could not be gathered: each rule takes the problems it explains, the rest get their own finding. */
import { describeProblem, type Evidence, type GatherProblem } from "../evidence";
import type { Finding } from "./finding";

/** Problems not yet shown in a finding; rules take the ones they explain. */
export class Problems {
  private readonly left: GatherProblem[];
  constructor(ev: Evidence) {
    this.left = [...ev.problems, ...Object.values(ev.hosts).flatMap((h) => h.problems)];
  }

  /** Removes and describes the problems reading `pieces` (on `host`, or anywhere when not given). */
  take(pieces: string[], host?: string): string[] {
    const out: string[] = [];
    for (let i = this.left.length - 1; i >= 0; i--) {
      const p = this.left[i]!;
      if (pieces.includes(p.piece) && (host === undefined || p.host === undefined || p.host === host)) {
        out.unshift(describeProblem(p));
        this.left.splice(i, 1);
      }
    }
    return out;
  }

  /** Removes and describes every problem no rule took. */
  rest(): string[] {
    return this.left.splice(0).map(describeProblem);
  }
}

/** The closing finding for problems no rule explained; null when there are none. */
export function leftoverFinding(problems: Problems): Finding | null {
  const rest = problems.rest();
  if (rest.length === 0) return null;
  return { id: "evidence", title: "Evidence that could not be gathered", status: "warn", evidence: rest };
}
