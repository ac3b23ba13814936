/**
 * Comparing two runs of the conformance scenario (real Nova against the sandbox), and the
 * differences that remain on purpose, each with the reason it cannot or should not be removed.
 * Every other difference fails the suite; so does a documented one that no longer shows (the list
 * must stay true).
 */
import type { ConformanceRun } from "./nova-calls";
import { observedDifferences } from "./shape";

/** A difference kept on purpose: the calls it shows in, the difference line, and why it stays. */
export interface KnownDifference {
  /** Call ids, or a pattern of them. */
  calls: RegExp;
  /** The difference as {@link observedDifferences} prints it (real first, sandbox second). */
  difference: RegExp;
  reason: string;
}

export const KNOWN_DIFFERENCES: readonly KnownDifference[] = [
  {
    calls: /^(servers\.|nova\.mv\.latest)/,
    difference: /^body servers?(\[\])?\.security_groups: only in sandbox$/,
    reason:
      "Nova lists the security groups of a server's ports. The lab boots its servers with `networks: none` (it runs Neutron without agents), so real Nova omits the key; the sandbox's servers show the default group as a server with a port does in Nova's API samples (test/openstack/nova-api.test.ts holds the sandbox to those).",
  },
  {
    calls: /^glance\.images?$/,
    difference: /^body (images\[\]\.)?kernel_id: only in real$/,
    reason:
      "Image properties are whatever the uploader set: the lab's images boot a kernel (`kernel_id`); the sandbox's servers boot plain disk images.",
  },
  {
    calls: /^glance\.images?$/,
    difference: /^body (images\[\]\.)?migbot_spin_iterations: only in real$/,
    reason:
      "A free-form property the lab's `up --openstack` sets on its guest images (the guest's spin count).",
  },
];

/** A difference between two runs, by call. */
export interface RunDifference {
  call: string;
  difference: string;
}

/** Every difference between the two runs (real first), call by call. */
export function runDifferences(
  real: ConformanceRun["observed"],
  sandbox: ConformanceRun["observed"],
): RunDifference[] {
  const out: RunDifference[] = [];
  for (const call of Object.keys(real)) {
    const s = sandbox[call];
    if (s === undefined) {
      out.push({ call, difference: "not called on the sandbox" });
      continue;
    }
    for (const difference of observedDifferences(real[call]!, s, ["real", "sandbox"]))
      out.push({ call, difference });
  }
  for (const call of Object.keys(sandbox)) {
    if (!(call in real)) out.push({ call, difference: "not called on real Nova" });
  }
  return out;
}

function documented(d: RunDifference): KnownDifference | undefined {
  return KNOWN_DIFFERENCES.find((k) => k.calls.test(d.call) && k.difference.test(d.difference));
}

/**
 * What the comparison says: differences nobody documented (to fix in the sandbox, or document),
 * and documented ones that did not show (to remove from the list).
 */
export function judge(
  real: ConformanceRun["observed"],
  sandbox: ConformanceRun["observed"],
): { undocumented: RunDifference[]; unseen: KnownDifference[] } {
  const all = runDifferences(real, sandbox);
  const undocumented = all.filter((d) => documented(d) === undefined);
  const unseen = KNOWN_DIFFERENCES.filter(
    (k) => !all.some((d) => k.calls.test(d.call) && k.difference.test(d.difference)),
  );
  return { undocumented, unseen };
}

/**
 * The message of an error answer — Nova's fault (`{"<fault>": {"message"}}`), Keystone's
 * (`{"error": {"message"}}`) or Glance's (`{"message"}`) — with the values that differ between two
 * clouds (UUIDs, request ids, numbers) replaced, so the wording itself compares. Null for a body
 * that carries none.
 */
export function errorMessage(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const values = [body, ...Object.values(body as Record<string, unknown>)];
  for (const v of values) {
    const message = (v as { message?: unknown } | null)?.message;
    if (typeof message === "string") {
      return message
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<uuid>")
        .replace(/\breq-<uuid>/g, "<request>")
        .replace(/\d+/g, "<n>");
    }
  }
  return null;
}

/** Error messages of the calls that answered one, by call id. */
export function errorMessages(run: Pick<ConformanceRun, "observed" | "bodies">): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [call, observed] of Object.entries(run.observed)) {
    if (observed.status < 400) continue;
    const message = errorMessage(run.bodies[call]);
    if (message !== null) out[call] = message;
  }
  return out;
}

/**
 * What the sandbox does that real Nova in the lab cannot show, so no run compares it: the lab
 * has one release (Debian 12 ships Zed) and runs its guests under TCG. Each is held to Nova's code
 * and API samples instead, where the tests named say.
 */
export const NOT_COMPARABLE: readonly { what: string; why: string; checkedBy: string }[] = [
  {
    what: "A Mitaka controller: microversions up to 2.25, only `X-OpenStack-Nova-API-Version` read, the project id in the catalog's compute URL",
    why: "The lab runs Zed only (Debian 12's packages); the scenario's 2.25 calls show how Zed serves that microversion, not how Mitaka did.",
    checkedBy:
      "test/openstack/nova-api.test.ts and test/openstack/client.test.ts (Mitaka sandbox, nova-api-samples-mitaka-eol)",
  },
  {
    what: "Mitaka compute hosts: `live_migration_flag`, the progress timeout, Mitaka's log wording and job-end statuses",
    why: "Every lab host runs nova-compute 26.2.2 in this mode.",
    checkedBy: "test/lab/story.test.ts (the agent lab's Mitaka hosts), test/nova-facts",
  },
  {
    what: "CPU-incompatible destinations refused by Nova's pre-check",
    why: "The lab's computes run `virt_type = qemu`, for which Nova compares no CPU (nova 26.2.2 driver.py `check_can_live_migrate_destination`); the sandbox's Zed hosts run kvm.",
    checkedBy: "test/sandbox/cloud.test.ts, test/lab/story.test.ts (declared CPUs)",
  },
  {
    what: "Force complete with post-copy permitted (the guest switches to post-copy instead of pausing)",
    why: "The lab's nova.conf leaves `live_migration_permit_post_copy` off, as the story needs the pause; the sandbox models the pause only.",
    checkedBy: "not exercised",
  },
];
