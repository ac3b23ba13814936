/** nova-compute on a host: what Nova says about the service and what systemd says about the unit. */
import type { HostEvidence } from "../evidence";
import { type Finding, type FindingStatus, worst } from "./finding";
import type { Problems } from "./problems";

/** The `source-service`, `destination-service` or `host-service` finding. */
export function serviceFinding(
  id: string,
  h: HostEvidence,
  role: "source" | "destination" | "host",
  problems: Problems,
): Finding {
  const title = `nova-compute up on ${role === "host" ? "" : `the ${role} `}${h.name}`;
  const evidence: string[] = [];
  let status: FindingStatus = "pass";
  const novaProblems = problems.take(["services"]);
  const systemdProblems = problems.take(["systemd"], h.name);
  if (h.service === null) {
    if (novaProblems.length > 0) {
      status = "warn";
      evidence.push(...novaProblems);
    } else {
      status = "fail";
      evidence.push(
        `Nova lists no nova-compute service on ${h.name}. Check the host name (openstack compute service list --service nova-compute).`,
      );
    }
  } else {
    // The Nova client also carries the reason a service was disabled; the port does not promise it.
    const reason = (h.service as { disabledReason?: string | null }).disabledReason;
    evidence.push(
      `Nova: nova-compute on ${h.name} is ${h.service.state} and ${h.service.status}${reason ? ` (${reason})` : ""}.`,
    );
    if (h.service.state === "down") {
      status = "fail";
      evidence.push(
        `Nova refuses live migrations ${role === "destination" ? "to" : "from"} a host whose nova-compute is down. Start it (systemctl start nova-compute) and read its log for why it stopped.`,
      );
    } else if (h.service.status === "disabled" && role === "destination") {
      status = "warn";
      evidence.push(
        "The service is disabled: Nova's scheduler will not place the VM there; enable it (openstack compute service set --enable) or pick another host.",
      );
    }
  }
  if (h.systemd !== null) {
    evidence.push(`systemd: nova-compute is ${h.systemd}.`);
    if (h.systemd !== "active" && h.service?.state === "up") {
      status = worst(status, "warn");
      evidence.push(
        "Nova still shows it up: its last report is younger than service_down_time (60 s by default); it will turn down soon.",
      );
    }
    if (h.systemd === "active" && h.service?.state === "down") {
      evidence.push(
        "The unit runs but does not report to Nova: check its log for messaging or database errors.",
      );
    }
  } else if (!h.inInventory) {
    evidence.push(`${h.name} is not in migbot's host inventory, so systemd could not be asked.`);
  }
  evidence.push(...systemdProblems);
  if (systemdProblems.length > 0) status = worst(status, "warn");
  return { id, title, status, evidence };
}
