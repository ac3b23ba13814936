/**
 * What real Nova answered to the conformance scenario, recorded from the lab (`lab up --openstack`:
 * Keystone 22.0.2, Nova 26.2.2, Glance 25.1.0 from Debian 12) so the sandbox can be compared with
 * it everywhere, also where the lab cannot run. test/lab/openstack-story.test.ts runs the scenario
 * against real Nova again and fails when real Nova no longer answers as recorded;
 * `MIGBOT_RECORD_CONFORMANCE=1` there rewrites the record instead.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { errorMessages } from "./differences";
import type { ConformanceRun } from "./nova-calls";
import type { Observed } from "./shape";

export const REAL_NOVA_RECORD_PATH = fileURLToPath(new URL("./real-nova-zed.json", import.meta.url));

export interface RealNovaRecord {
  /** What answered: releases and packages. */
  source: string;
  recordedAt: string;
  observed: Record<string, Observed>;
  /** Error answers' messages, normalized ({@link errorMessages}). */
  messages: Record<string, string>;
  /** How long each wait of the scenario took on real Nova, ms. */
  timingsMs: Record<string, number>;
}

export function readRealNovaRecord(): RealNovaRecord {
  return JSON.parse(readFileSync(REAL_NOVA_RECORD_PATH, "utf8")) as RealNovaRecord;
}

/** Writes a run against real Nova as the record. */
export function writeRealNovaRecord(run: ConformanceRun, source: string): void {
  const record: RealNovaRecord = {
    source,
    recordedAt: new Date().toISOString(),
    observed: run.observed,
    messages: errorMessages(run),
    timingsMs: run.timingsMs,
  };
  writeFileSync(REAL_NOVA_RECORD_PATH, `${JSON.stringify(record, null, 1)}\n`);
}
