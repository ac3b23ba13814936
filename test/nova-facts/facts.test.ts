import { describe, expect, it } from "vitest";
import { knownNovaReleases, novaFacts } from "../../src/nova-facts";

describe("novaFacts", () => {
  it("answers for every release it knows", () => {
    for (const r of knownNovaReleases()) {
      const f = novaFacts(r);
      expect(f.release.major).toBe(r.major);
      expect(f.downtime.downtimeMs.default).toBe(500);
      expect(f.api.minMicroversion).toBe("2.1");
    }
  });

  it("sums up the release differences an operator meets", () => {
    const mitaka = novaFacts("mitaka");
    expect(mitaka.downtime.formula).toBe("exponential");
    expect(mitaka.flags.liveMigrationFlag?.option).toBe("live_migration_flag");
    expect(mitaka.postCopy).toEqual({ requirements: null, autoSwitch: false });
    expect(mitaka.api).toMatchObject({ maxMicroversion: "2.25", abortableAtMax: ["running"] });

    const newton = novaFacts("newton");
    expect(newton.downtime.formula).toBe("exponential");
    expect(newton.postCopy.autoSwitch).toBe(true);
    expect(newton.timeouts.progress?.defaultS).toBe(150);

    const stein = novaFacts("stein");
    expect(stein.postCopy.autoSwitch).toBe(false);
    expect(stein.timeouts.progress).toBeNull();
    expect(stein.capacity.allocationRatios.cpu.initialDefault).toBe(16);

    const antelope = novaFacts("2023.1");
    expect(antelope.cpu.api).toBe("compareHypervisorCPU");
    expect(antelope.capacity.allocationRatios.cpu.defaultInEffect).toBe(4);
    expect(antelope.api.abortableAtMax).toEqual(["running", "queued", "preparing"]);
  });
});
