/** What stops a nova-compute restart right now: live migrations in flight on the hosts it restarts. */
import type { Evidence } from "../../diagnose/evidence";
import type { FixContext } from "./context";

/** Sentences naming each live migration that runs on `hosts` (the one aborted first excepted). */
export function blockersFor(ev: Evidence, hosts: string[], ctx: FixContext): string[] {
  if (ev.migrationsInFlight === null) {
    return [
      "Nova's migration list could not be read, so migbot cannot tell whether a migration runs on these hosts; it is checked again before applying.",
    ];
  }
  const stuckServer = ctx.abortFirst ? ev.server?.id : undefined;
  return ev.migrationsInFlight
    .filter(
      (m) => hosts.includes(m.sourceCompute) || (m.destCompute !== null && hosts.includes(m.destCompute)),
    )
    .filter((m) => stuckServer === undefined || m.serverId !== stuckServer)
    .map(
      (m) =>
        `Live migration ${m.id} (${m.sourceCompute} → ${m.destCompute ?? "?"}, ${m.status}) is in flight: nova-compute must not restart under it.`,
    );
}
