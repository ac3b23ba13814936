/**
 * Every job is signed by the bot that enqueued it (Ed25519, src/signing) and checked by the worker
 * that takes it, so a job written into Redis by anyone else (a forged migration, approval or
 * response_url) is refused before it is read. The signature sits beside the payload in the job's
 * data and covers the queue, the job id and the payload.
 */
import { CodedError } from "../errors";
import type { JobSigner, JobVerifier } from "../signing/signatures";
import { type AnyJob, validateJob } from "./jobs";

/** The field of a job's data that carries the bot's signature. */
export const JOB_SIGNATURE_FIELD = "sig";

/** The signature domain of a deployment: a job signed for one prefix is not valid under another. */
export function jobSigningDomain(prefix: string): string {
  return `migbot-job-v1:${prefix}`;
}

/** A job whose signature does not check out: altered or forged in Redis. */
export class JobAuthError extends CodedError<"JOB_SIGNATURE_INVALID"> {
  constructor(
    readonly jobId: string,
    message: string,
  ) {
    // Not retryable: an integrity failure; the same bytes fail the same check again.
    super("JOB_SIGNATURE_INVALID", message, { retryable: false });
  }
}

/** The job's data as stored: the validated payload plus the bot's signature. */
export function signJob(
  signer: JobSigner,
  queue: string,
  jobId: string,
  payload: AnyJob,
): Record<string, unknown> {
  validateJob(payload);
  return { ...payload, [JOB_SIGNATURE_FIELD]: signer.sign(queue, jobId, payload) };
}

/**
 * The payload of a job read from Redis, once its signature checks out; throws {@link JobAuthError}
 * (never retried) for an unsigned, forged or altered job, and JobPayloadError for a signed one that
 * is malformed.
 */
export function openJob(verifier: JobVerifier, queue: string, jobId: string, data: unknown): AnyJob {
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new JobAuthError(jobId, `job ${jobId} has no payload object; refused`);
  }
  const { [JOB_SIGNATURE_FIELD]: signature, ...payload } = data as Record<string, unknown>;
  if (!verifier.verify(queue, jobId, payload, signature)) {
    throw new JobAuthError(
      jobId,
      `job ${jobId} in ${queue} ${signature === undefined ? "is not signed" : "does not carry a valid signature"} by the bot; refused unread (someone wrote it into Redis, or the bot's key differs from MIGBOT_BOT_VERIFY_KEY)`,
    );
  }
  return validateJob(payload);
}
