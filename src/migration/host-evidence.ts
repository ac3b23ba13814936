/**
 * Evidence from the compute hosts while a migration is followed: catalogue commands over SSH with a
 * short timeout, and a host that just failed is left alone for a while, so that one unreachable host
 * costs one timeout every {@link HOST_RETRY_AFTER_MS}, not one per poll.
 */
import { DEFAULT_NOVA_COMPUTE_LOG_PATH } from "../hosts/inventory";
import type { HostsPort } from "../hosts/port";
import type { Logger } from "../log";
import { type LogReading, readInstanceLog } from "./instance-log";

/** An SSH call during tracking that takes longer is skipped for this poll. */
export const EVIDENCE_TIMEOUT_MS = 10_000;
/** After an SSH call to a host failed, the tracker leaves that host alone this long (no timeout per poll). */
export const HOST_RETRY_AFTER_MS = 30_000;
/** Lines of the nova-compute log read when explaining a failure or looking for progress lines. */
export const FAILURE_LOG_LINES = 400;

/** A command's answer, or why there is none (a sentence naming the host). */
export type Evidence =
  | { ok: true; stdout: string; stderr: string; exitCode: number }
  | { ok: false; why: string };

export class HostEvidence {
  private readonly downUntil = new Map<string, number>();

  constructor(
    private readonly hosts: HostsPort,
    private readonly opts: { timeoutMs: number; now: () => number; log: Logger },
  ) {}

  /** Is the host in migbot's inventory (so that SSH evidence can be gathered)? */
  known(host: string | null | undefined): host is string {
    return !!host && (this.hosts.has?.(host) ?? true);
  }

  /** Known, and not left alone after a recent SSH failure. */
  reachable(host: string | null | undefined): host is string {
    if (!this.known(host)) return false;
    return this.opts.now() >= (this.downUntil.get(host) ?? 0);
  }

  /** Runs a catalogue command for evidence; an SSH failure marks the host down for a while. */
  async run(host: string, command: Parameters<HostsPort["run"]>[1]): Promise<Evidence> {
    try {
      const res = await this.hosts.run(host, command, {
        timeoutMs: this.opts.timeoutMs,
        allowNonZeroExit: true,
      });
      return { ok: true, ...res };
    } catch (err) {
      this.downUntil.set(host, this.opts.now() + HOST_RETRY_AFTER_MS);
      const code = (err as { code?: string }).code;
      const why = `${host} unreachable over SSH${code ? ` (${code})` : ""}`;
      this.opts.log.warn("host evidence unavailable", { host, kind: command.kind, err });
      return { ok: false, why };
    }
  }

  /** The tail of a host's nova-compute log, read for one instance; null when it cannot be read. */
  async instanceLog(
    host: string | null | undefined,
    instanceUuid: string | null,
  ): Promise<LogReading | null> {
    if (!this.reachable(host) || !instanceUuid) return null;
    const res = await this.run(host, {
      kind: "tail-log",
      path: DEFAULT_NOVA_COMPUTE_LOG_PATH,
      lines: FAILURE_LOG_LINES,
    });
    if (!res.ok || res.exitCode !== 0) return null;
    return readInstanceLog(res.stdout, instanceUuid);
  }
}
