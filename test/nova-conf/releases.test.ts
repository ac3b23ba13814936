import { describe, expect, it } from "vitest";
import { NovaConfError } from "../../src/nova-conf/errors";
import {
  atLeast,
  KNOWN_RELEASES,
  olderThan,
  releaseByMajor,
  releaseByName,
  releaseFromVersion,
  releaseLabel,
  releaseOf,
} from "../../src/nova-conf/releases";

describe("releaseFromVersion", () => {
  it("maps nova versions to releases", () => {
    expect(releaseFromVersion("13.1.4")).toMatchObject({ name: "mitaka", major: 13 });
    expect(releaseFromVersion("14.0.0")).toMatchObject({ name: "newton", major: 14 });
    expect(releaseFromVersion("20.6.1")).toMatchObject({ name: "train", major: 20 });
    expect(releaseFromVersion("32.0.0")).toMatchObject({ name: "flamingo", major: 32 });
  });

  it("reads nova-compute --version output and distribution package versions", () => {
    expect(releaseFromVersion("13.1.4\n")).toMatchObject({ name: "mitaka", major: 13 });
    expect(releaseFromVersion("nova-compute 26.2.2")).toMatchObject({ name: "zed", major: 26 });
    expect(releaseFromVersion("27.1.0.dev12")).toMatchObject({ name: "antelope", major: 27 });
    // The Debian package the Zed fixtures come from (SOURCES.md).
    expect(releaseFromVersion("2:26.2.2-1~deb12u5")).toMatchObject({ name: "zed", major: 26 });
    expect(releaseFromVersion("13.1.4-1.el7")).toMatchObject({ name: "mitaka", major: 13 });
  });

  it("refuses unknown versions with a coded error that lists the known ones", () => {
    const err = (() => {
      try {
        releaseFromVersion("12.0.0");
      } catch (e) {
        return e as NovaConfError;
      }
      throw new Error("no error");
    })();
    expect(err).toBeInstanceOf(NovaConfError);
    expect(err.code).toBe("NOVA_CONF_UNKNOWN_RELEASE");
    expect(err.message).toContain("mitaka");
    expect(err.message).toContain("2026.1");
    expect(err.message).toMatch(/--release zed/);
    expect(() => releaseFromVersion("not a version")).toThrow(/not a nova version/);
  });
});

describe("releaseByName", () => {
  it("accepts code names in any case, year names and versions", () => {
    expect(releaseByName("Zed")).toMatchObject({ name: "zed", major: 26 });
    expect(releaseByName("zed")).toMatchObject({ name: "zed", major: 26 });
    expect(releaseByName("2023.1")).toMatchObject({ name: "antelope", major: 27 });
    expect(releaseByName("antelope")).toMatchObject({ name: "antelope", major: 27 });
    expect(releaseByName("2025.1")).toMatchObject({ name: "epoxy", major: 31 });
    expect(releaseByName("13.1.4")).toMatchObject({ name: "mitaka", major: 13 });
  });

  it("refuses names it does not know", () => {
    expect(() => releaseByName("liberty")).toThrow(/not an OpenStack release name migbot knows/);
    expect(() => releaseByName("2019.1")).toThrow(NovaConfError);
  });

  it("knows every major from 13 to 33 exactly once, in order (src/nova-facts' table)", () => {
    expect(KNOWN_RELEASES.map((r) => r.major)).toEqual(Array.from({ length: 21 }, (_, i) => 13 + i));
    expect(releaseByMajor(20).name).toBe("train");
    expect(releaseLabel(releaseByName("bobcat"))).toBe(
      "bobcat / 2023.2 (28.3.1, newest point release assumed)",
    );
    expect(releaseLabel(releaseFromVersion("2:26.2.2-1~deb12u5"))).toBe("zed (26.2.2)");
  });

  it("keeps the point version read from a host: facts changed inside a series", () => {
    expect(releaseFromVersion("13.1.4").version).toEqual([13, 1, 4]);
    expect(releaseFromVersion("13.1.4").versionAssumed).toBe(false);
    expect(releaseByName("mitaka").versionAssumed).toBe(true);
    expect(releaseOf({ name: "mitaka", major: 13 }).version).toEqual([13, 1, 4]);
    expect(releaseOf({ name: "mitaka", major: 13, version: "13.0.0" }).version).toEqual([13, 0, 0]);
  });
});

describe("comparisons", () => {
  it("orders releases by nova major", () => {
    const mitaka = releaseByName("mitaka");
    expect(atLeast(mitaka, "newton")).toBe(false);
    expect(atLeast(releaseByName("newton"), "newton")).toBe(true);
    expect(atLeast(releaseByName("2024.1"), "train")).toBe(true);
    expect(olderThan(releaseByName("stein"), "train")).toBe(true);
    expect(olderThan(releaseByName("train"), "train")).toBe(false);
  });
});
