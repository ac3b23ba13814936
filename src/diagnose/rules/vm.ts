/** The VM itself: found, on a host Nova names, and in a state live migration accepts. */
import type { NovaServer } from "../../openstack/port";
import type { Evidence } from "../evidence";
import type { DiagnosisFocus, Finding } from "./finding";

const TITLE = "VM found and running";

function flavorText(s: NovaServer): string {
  const f = s.flavor;
  const size = f.ramMb !== undefined ? ` (${f.ramMb} MiB, ${f.vcpus ?? "?"} vCPUs)` : "";
  return `${f.name ?? f.id ?? "?"}${size}`;
}

/** The `vm` finding; `ev.server` must be set (a VM diagnosis). */
export function vmFinding(ev: Evidence, focus: DiagnosisFocus = "all"): Finding {
  const s = ev.server!;
  const where = s.host ? `on ${s.host}` : "on no compute host";
  const base = `${s.name} (${s.id}) is ${s.status} ${where}, flavor ${flavorText(s)}${s.instanceName ? `, libvirt domain ${s.instanceName}` : ""}.`;
  if (s.host === null) {
    return {
      id: "vm",
      title: TITLE,
      status: "fail",
      evidence: [base, "Nova does not say which host runs it (is migbot's Nova user an admin?)."],
    };
  }
  // Diagnosing a migration that is stuck right now: MIGRATING is that migration, not a problem.
  if (focus === "convergence" && s.status === "MIGRATING") {
    return { id: "vm", title: TITLE, status: "pass", evidence: [`${base} (this live migration)`] };
  }
  if (s.status !== "ACTIVE" && s.status !== "PAUSED") {
    return {
      id: "vm",
      title: TITLE,
      status: "fail",
      evidence: [
        base,
        `Live migration needs an ACTIVE (or PAUSED) VM; ${s.status} is not. A stopped VM can be cold-migrated instead (openstack server migrate).`,
      ],
    };
  }
  if (s.taskState) {
    return {
      id: "vm",
      title: TITLE,
      status: "warn",
      evidence: [
        base,
        `Nova shows a task in progress: ${s.taskState}. Wait for it to finish before migrating again.`,
      ],
    };
  }
  return { id: "vm", title: TITLE, status: "pass", evidence: [base] };
}
