import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  abortableStatuses,
  abortRule,
  compareMicroversion,
  IN_PROGRESS_LIVE_MIGRATION_STATUSES,
  LIVE_MIGRATION_STATUSES,
  MICROVERSIONS,
  maxMicroversion,
  NEWEST_KNOWN_MAJOR,
  NovaFactsError,
  osMigrationsFilters,
  releaseIntroducing,
} from "../../src/nova-facts";
import { fixturePath, readJsonFixture } from "../support/fixtures";

interface VersionsDoc {
  versions: { id: string; version: string; min_version: string }[];
}
const v21 = (doc: VersionsDoc) => doc.versions.find((v) => v.id === "v2.1")!;

describe("microversions", () => {
  it("tops out at 2.25 on Mitaka, as its API samples say", () => {
    const mitaka = v21(
      readJsonFixture<VersionsDoc>("nova-api-samples-mitaka-eol/versions/versions-get-resp.json"),
    );
    expect(maxMicroversion("mitaka")).toBe(mitaka.version);
    expect(mitaka.min_version).toBe("2.1");
  });

  it("never exceeds what nova master serves, and grows release by release", () => {
    const master = v21(readJsonFixture<VersionsDoc>("nova-api-samples/versions/versions-get-resp.json"));
    expect(compareMicroversion(maxMicroversion(NEWEST_KNOWN_MAJOR), master.version)).toBeLessThanOrEqual(0);
    for (let major = 14; major <= NEWEST_KNOWN_MAJOR; major++) {
      expect(compareMicroversion(maxMicroversion(major), maxMicroversion(major - 1))).toBeGreaterThanOrEqual(
        0,
      );
    }
    expect(maxMicroversion("zed")).toBe("2.93");
    expect(maxMicroversion("2023.1")).toBe("2.95");
  });

  it("places each microversion migbot uses in the release that introduced it", () => {
    expect(releaseIntroducing(MICROVERSIONS.FORCE_COMPLETE)).toBe(13);
    expect(releaseIntroducing(MICROVERSIONS.ABORT_MIGRATION)).toBe(13);
    expect(releaseIntroducing(MICROVERSIONS.BLOCK_MIGRATION_AUTO)).toBe(13);
    expect(releaseIntroducing(MICROVERSIONS.LIVE_MIGRATE_FORCE)).toBe(14);
    expect(releaseIntroducing(MICROVERSIONS.ASYNC_LIVE_MIGRATION_PRECHECK)).toBe(14);
    expect(releaseIntroducing(MICROVERSIONS.MIGRATION_UUID)).toBe(17);
    expect(releaseIntroducing(MICROVERSIONS.ABORT_QUEUED)).toBe(18);
    expect(releaseIntroducing(MICROVERSIONS.LIVE_MIGRATE_NO_FORCE)).toBe(19);
    expect(releaseIntroducing(MICROVERSIONS.MIGRATION_USER_PROJECT)).toBe(21);
    expect(releaseIntroducing(MICROVERSIONS.HYPERVISOR_NO_STATS)).toBe(23);
    expect(() => releaseIntroducing("2.200")).toThrow(NovaFactsError);
  });

  it("has API samples for the server-migration microversions it names", () => {
    const dirs = readdirSync(fixturePath("nova-api-samples/server-migrations")).map((d) =>
      d.replace(/^v/, ""),
    );
    for (const mv of [
      MICROVERSIONS.FORCE_COMPLETE,
      MICROVERSIONS.SERVER_MIGRATIONS,
      MICROVERSIONS.ABORT_MIGRATION,
    ]) {
      expect(dirs).toContain(mv);
    }
    expect(dirs).toContain(MICROVERSIONS.ABORT_QUEUED);
  });
});

describe("abort and force-complete", () => {
  it("aborts only running migrations before 2.65", () => {
    expect(abortableStatuses("mitaka", "2.23")).toEqual([]);
    expect(abortableStatuses("mitaka", "2.24")).toEqual(["running"]);
    expect(abortableStatuses("zed", "2.64")).toEqual(["running"]);
  });

  it("aborts queued and preparing ones too from 2.65, checking the compute's version until Ussuri", () => {
    expect(abortRule("rocky", "2.65")).toEqual({
      statuses: ["running", "queued", "preparing"],
      queuedNeedsComputeServiceVersion: 34,
    });
    expect(abortRule("train", "2.79").queuedNeedsComputeServiceVersion).toBe(34);
    expect(abortRule("ussuri", "2.65").queuedNeedsComputeServiceVersion).toBeNull();
    expect(() => abortableStatuses("queens", "2.65")).toThrow(/above 2.60/);
  });

  it("lists the statuses Nova counts as in progress, without post-copy", () => {
    expect(IN_PROGRESS_LIVE_MIGRATION_STATUSES).toEqual(["queued", "preparing", "running", "post-migrating"]);
    expect(IN_PROGRESS_LIVE_MIGRATION_STATUSES).not.toContain("running (post-copy)");
    const sample = readJsonFixture<{ migrations: { status: string }[] }>(
      "nova-api-samples/server-migrations/v2.23/migrations-index.json",
    );
    for (const m of sample.migrations) expect(IN_PROGRESS_LIVE_MIGRATION_STATUSES).toContain(m.status);
    for (const s of IN_PROGRESS_LIVE_MIGRATION_STATUSES) expect(LIVE_MIGRATION_STATUSES).toContain(s);
  });
});

describe("osMigrationsFilters", () => {
  it("Mitaka ignores instance_uuid and matches status per character; Newton onwards filter both exactly", () => {
    expect(osMigrationsFilters("mitaka")).toEqual({ instanceUuid: false, status: "per-character" });
    expect(osMigrationsFilters("13.1.4")).toEqual({ instanceUuid: false, status: "per-character" });
    for (const r of ["newton", "zed", 33]) {
      expect(osMigrationsFilters(r)).toEqual({ instanceUuid: true, status: "exact" });
    }
  });
});
