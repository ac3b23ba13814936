import { generateKeyPairSync, randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import { JobAuthError, jobSigningDomain, openJob, signJob } from "../../src/queue/job-auth";
import type { MigrateJob } from "../../src/queue/jobs";
import {
  generateKeySet,
  parseBotSigningKey,
  parseBotVerifyKey,
  parseWorkerKey,
} from "../../src/signing/keys";
import { canonicalJson, JobSigner, JobVerifier, PlanSealer } from "../../src/signing/signatures";

const keys = generateKeySet();
const signer = new JobSigner(parseBotSigningKey(keys.MIGBOT_BOT_SIGNING_KEY), jobSigningDomain("migbot"));
const verifier = new JobVerifier(parseBotVerifyKey(keys.MIGBOT_BOT_VERIFY_KEY), jobSigningDomain("migbot"));

const job: MigrateJob = {
  type: "migrate",
  vm: "vm-42",
  destination: "compute-3",
  channel: "C0OPS0001",
  user: "U0ALICE01",
  requestedAt: 1_700_000_000_000,
  responseUrl: "https://hooks.slack.com/commands/T1/2/abc",
};

describe("canonicalJson", () => {
  test("the same value in any key order gives the same bytes; undefined fields drop out", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe(
      canonicalJson({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1, z: undefined }),
    );
    expect(canonicalJson({ a: "é\u2028" })).toBe('{"a":"é\u2028"}');
  });
});

describe("jobs signed by the bot", () => {
  test("a signed job opens to its payload; data stored in another key order still checks", () => {
    const data = signJob(signer, "migrations", "migrate-1", job);
    const reordered = Object.fromEntries(Object.entries(data).reverse());
    expect(openJob(verifier, "migrations", "migrate-1", reordered)).toEqual(job);
  });

  test("any change to the payload, the job id, the queue or the deployment is refused", () => {
    const data = signJob(signer, "migrations", "migrate-1", job);
    const refused = (fn: () => unknown) => expect(fn).toThrow(JobAuthError);
    refused(() => openJob(verifier, "migrations", "migrate-1", { ...data, destination: "compute-5" }));
    refused(() =>
      openJob(verifier, "migrations", "migrate-1", { ...data, responseUrl: "https://evil.example/x" }),
    );
    refused(() => openJob(verifier, "migrations", "migrate-2", data));
    refused(() => openJob(verifier, "actions", "migrate-1", data));
    const elsewhere = new JobVerifier(
      parseBotVerifyKey(keys.MIGBOT_BOT_VERIFY_KEY),
      jobSigningDomain("other"),
    );
    refused(() => openJob(elsewhere, "migrations", "migrate-1", data));
    const { sig: _sig, ...unsigned } = data;
    refused(() => openJob(verifier, "migrations", "migrate-1", unsigned));
  });

  test("a job signed with another key is refused", () => {
    const other = generateKeyPairSync("ed25519").privateKey;
    const data = signJob(new JobSigner(other, jobSigningDomain("migbot")), "migrations", "m", job);
    expect(() => openJob(verifier, "migrations", "m", data)).toThrow(/does not carry a valid signature/);
  });
});

describe("plans sealed by workers", () => {
  test("the seal holds for the stored bytes only; another key or domain does not match", () => {
    const key = parseWorkerKey(keys.MIGBOT_WORKER_KEY);
    const sealer = new PlanSealer(key, "migbot-plan-v1:migbot");
    const plan = JSON.stringify({ id: "p", recipes: [{ fix: "auto-converge" }] });
    const seal = sealer.seal(plan);
    expect(sealer.check(plan, seal)).toBe(true);
    expect(sealer.check(plan.replace("auto-converge", "cpu-model"), seal)).toBe(false);
    expect(new PlanSealer(randomBytes(32), "migbot-plan-v1:migbot").check(plan, seal)).toBe(false);
    expect(new PlanSealer(key, "migbot-plan-v1:other").check(plan, seal)).toBe(false);
    expect(sealer.check(plan, "not-a-seal")).toBe(false);
  });
});
