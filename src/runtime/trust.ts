/** The signing pieces a process gets from its config: the bot signs jobs, workers check them and seal plans. */
import type { Config } from "../config";
import { planSealDomain } from "../fixes/store";
import { jobSigningDomain } from "../queue/job-auth";
import { JobSigner, JobVerifier, PlanSealer } from "../signing/signatures";

export interface Trust {
  signer: JobSigner | null;
  verifier: JobVerifier | null;
  sealer: PlanSealer | null;
}

export function trustOf(config: Config): Trust {
  const { keys, redisPrefix } = config;
  return {
    signer: keys.botSigning ? new JobSigner(keys.botSigning, jobSigningDomain(redisPrefix)) : null,
    verifier: keys.botVerify ? new JobVerifier(keys.botVerify, jobSigningDomain(redisPrefix)) : null,
    sealer: keys.worker ? new PlanSealer(keys.worker, planSealDomain(redisPrefix)) : null,
  };
}

/** Throws naming the missing key: a role was wired without what its config should have given it. */
export function need<T>(value: T | null, what: string): T {
  if (value === null) throw new Error(`TRUST_KEY_MISSING: ${what}`);
  return value;
}
