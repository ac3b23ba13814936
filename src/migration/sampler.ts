/**
 * Pre-copy figures from the best source available at each poll: `virsh domjobinfo` on the source
 * host, else Nova's periodic progress line in the source's nova-compute log, else Nova's API memory
 * counters; with a sentence saying which source was used and why the better ones were not. Keeps a
 * bounded series per source for the convergence analyzer.
 */
import type { Logger } from "../log";
import type { NovaMigration } from "../openstack/port";
import type { HostEvidence } from "./host-evidence";
import { parseDomjobinfo } from "./samples/domjobinfo";
import type { MigrationSample } from "./samples/sample";
import type { MigrationView } from "./view";

/** What virsh says when the domain is no longer running on the host asked (shut off, or undefined). */
const DOMAIN_GONE_RE = /domain is not running|failed to get domain|Domain not found/i;

/** Samples kept per source for convergence analysis (a long migration polls thousands of times). */
export const MAX_SAMPLES = 600;

export type SampleSource = MigrationSample["source"];

export class Sampler {
  private readonly series: Record<SampleSource, MigrationSample[]> = {
    domjobinfo: [],
    "nova-log": [],
    "nova-api": [],
    qmp: [],
  };
  private current: SampleSource | null = null;
  private why: string | null;

  constructor(
    private readonly evidence: HostEvidence,
    private readonly log: Logger,
    private readonly now: () => number,
    /** The detail last shown (from the record, when resuming). */
    detail: string | null,
  ) {
    this.why = detail;
  }

  /** The source of the latest sample; null before any. */
  get source(): SampleSource | null {
    return this.current;
  }

  /**
   * Why the latest sample does not come from `virsh domjobinfo`, a plain sentence that may quote
   * host output (for the pre-copy reply); null when it does.
   */
  get detail(): string | null {
    return this.why;
  }

  /** The samples of the current source, oldest first: what the analyzer judges. */
  currentSeries(): MigrationSample[] {
    return this.current === null ? [] : this.series[this.current];
  }

  /**
   * One fresh sample of `view`'s migration, whose Nova record is `m` (Nova's counters are timed
   * from `since`, the trigger). Null when there is nothing new (e.g. no new progress line since
   * the last poll).
   */
  async sample(view: MigrationView, m: NovaMigration, since: number): Promise<MigrationSample | null> {
    const source = view.source;
    const domain = view.instanceName;
    let why: string;
    if (!this.evidence.known(source)) {
      why = `${source ?? "the source host"} is not in migbot's inventory`;
    } else if (!this.evidence.reachable(source)) {
      why = `${source} unreachable over SSH; retrying in a while`;
    } else if (!domain) {
      why = "Nova does not say the libvirt domain name";
    } else {
      const res = await this.evidence.run(source, { kind: "virsh-domjobinfo", domain });
      if (res.ok && res.exitCode === 0) {
        const s = parseDomjobinfo(res.stdout);
        // A job of type None: QEMU has not started (or has just ended); a job with no memory
        // figures yet is still setting up (real libvirt 9 prints only its type, operation and
        // elapsed time for its first moments). Either way, wait for the next poll.
        if (s.jobType === "none" || (s.jobType === "unbounded" && s.memoryTotalBytes === undefined))
          return null;
        return this.keep(s, null);
      }
      // The guest has left the source: QEMU finished the job (real Zed shuts the source domain off,
      // then undefines it) before Nova's record says so. Nothing new to sample; Nova will tell.
      if (res.ok && DOMAIN_GONE_RE.test(res.stderr)) return null;
      why = res.ok
        ? `virsh domjobinfo failed: ${res.stderr.trim().split("\n")[0] || `exit ${res.exitCode}`}`
        : res.why;
    }
    const fromLog = await this.logSample(source, view.serverId, why);
    if (typeof fromLog !== "string") return fromLog;
    // Nova saves its first counters before QEMU reports any (real Zed: all 0); those are no figures.
    if (m.memoryTotalBytes === null || m.memoryTotalBytes === 0) return null;
    return this.keep(
      {
        t: (this.now() - since) / 1000,
        source: "nova-api",
        jobType: "unbounded",
        memoryTotalBytes: m.memoryTotalBytes,
        ...(m.memoryProcessedBytes !== null && { memoryProcessedBytes: m.memoryProcessedBytes }),
        ...(m.memoryRemainingBytes !== null && { memoryRemainingBytes: m.memoryRemainingBytes }),
      },
      `${why}; ${fromLog}`,
    );
  }

  private keep(sample: MigrationSample, detail: string | null): MigrationSample {
    const list = this.series[sample.source];
    list.push(sample);
    if (list.length > MAX_SAMPLES) list.splice(0, list.length - MAX_SAMPLES);
    if (this.current !== sample.source || this.why !== detail) {
      this.log.info("pre-copy figures source", { source: sample.source, detail });
    }
    this.current = sample.source;
    this.why = detail;
    return sample;
  }

  /**
   * Nova's progress line from the source's log: a new sample, null when the log is in use but has
   * no new line yet, or why it cannot be used (a sentence for the progress reply).
   */
  private async logSample(
    source: string | null,
    serverId: string | null,
    why: string,
  ): Promise<MigrationSample | null | string> {
    const reading = await this.evidence.instanceLog(source, serverId);
    if (reading === null) return "the nova-compute log is unreachable too";
    const seen = this.series["nova-log"];
    const lastT = seen.at(-1)?.t ?? -1;
    const fresh = reading.samples.filter((s) => s.t > lastT);
    if (fresh.length === 0) {
      if (seen.length > 0 && this.current === "nova-log") return null;
      // Nova logs its progress line at INFO every 30 s only.
      return "nova-compute has not logged a progress line for it yet";
    }
    for (const s of fresh.slice(0, -1)) this.keep(s, why);
    return this.keep(fresh.at(-1)!, why);
  }
}
