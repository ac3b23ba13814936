import { describe, expect, it } from "vitest";
import {
  knownNovaReleases,
  NEWEST_KNOWN_MAJOR,
  NovaFactsError,
  novaRelease,
  novaReleaseLabel,
  OLDEST_KNOWN_MAJOR,
  versionAtLeast,
} from "../../src/nova-facts";

describe("nova releases", () => {
  it("maps nova majors to release names and year-based series", () => {
    const byMajor = new Map(knownNovaReleases().map((r) => [r.major, r]));
    expect(byMajor.get(13)!.name).toBe("mitaka");
    expect(byMajor.get(14)!.name).toBe("newton");
    expect(byMajor.get(15)!.name).toBe("ocata");
    expect(byMajor.get(19)!.name).toBe("stein");
    expect(byMajor.get(20)!.name).toBe("train");
    expect(byMajor.get(26)!.name).toBe("zed");
    expect(byMajor.get(27)).toMatchObject({ name: "antelope", series: "2023.1" });
    expect(byMajor.get(28)!.series).toBe("2023.2");
    expect(byMajor.get(29)!.series).toBe("2024.1");
    expect(byMajor.get(33)!.series).toBe("2026.1");
    expect([...byMajor.keys()]).toEqual(
      Array.from({ length: NEWEST_KNOWN_MAJOR - OLDEST_KNOWN_MAJOR + 1 }, (_, i) => OLDEST_KNOWN_MAJOR + i),
    );
  });

  it("reads names, series, versions and packaging versions", () => {
    expect(novaRelease("Zed").major).toBe(26);
    expect(novaRelease("2023.1").name).toBe("antelope");
    expect(novaRelease("26")).toMatchObject({ major: 26, versionAssumed: true });
    expect(novaRelease("2:26.2.2-1~deb12u5")).toMatchObject({
      major: 26,
      version: [26, 2, 2],
      versionAssumed: false,
    });
    expect(novaRelease("nova-compute 13.1.4")).toMatchObject({ name: "mitaka", version: [13, 1, 4] });
    expect(novaRelease({ major: 13, version: "13.0.0" }).version).toEqual([13, 0, 0]);
    expect(novaRelease(14)).toMatchObject({ name: "newton", version: [14, 1, 0], versionAssumed: true });
  });

  it("assumes the newest point release read when only the series is known", () => {
    const mitaka = novaRelease("mitaka");
    expect(mitaka.version).toEqual([13, 1, 4]);
    expect(versionAtLeast(mitaka, "13.1.0")).toBe(true);
    expect(versionAtLeast(novaRelease("13.0.0"), "13.1.0")).toBe(false);
    expect(novaReleaseLabel(mitaka)).toBe("mitaka (13.1.4, newest point release assumed)");
  });

  it("records the Python each tag declares", () => {
    expect(novaRelease("ocata").python).toEqual([2]);
    expect(novaRelease("train").python).toEqual([2, 3]);
    expect(novaRelease("ussuri").python).toEqual([3]);
  });

  it("refuses releases it has no facts for, saying which it has", () => {
    expect(() => novaRelease("liberty")).toThrow(NovaFactsError);
    expect(() => novaRelease(12)).toThrow(/Mitaka|mitaka = 13/);
    expect(() => novaRelease("34.0.0")).toThrow(/gazpacho \(2026\.1\) = 33/);
    expect(() => novaRelease({ major: 26, version: "27.1.0" })).toThrow(/does not belong to nova 26/);
  });
});
