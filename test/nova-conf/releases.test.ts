import { describe, expect, it } from "vitest";
import { NovaConfError } from "../../src/nova-conf/errors";
import {
  atLeast,
  olderThan,
  releaseByName,
  releaseFromVersion,
  releaseLabel,
} from "../../src/nova-conf/releases";

describe("releaseFromVersion", () => {
  it("maps nova versions to releases", () => {
    expect(releaseFromVersion("13.1.4")).toEqual({ name: "mitaka", major: 13 });
    expect(releaseFromVersion("14.0.0")).toEqual({ name: "newton", major: 14 });
    expect(releaseFromVersion("20.6.1")).toEqual({ name: "train", major: 20 });
    expect(releaseFromVersion("32.0.0")).toEqual({ name: "flamingo", major: 32 });
  });

  it("reads nova-compute --version output and distribution package versions", () => {
    expect(releaseFromVersion("13.1.4\n")).toEqual({ name: "mitaka", major: 13 });
    expect(releaseFromVersion("nova-compute 26.2.2")).toEqual({ name: "zed", major: 26 });
    expect(releaseFromVersion("27.1.0.dev12")).toEqual({ name: "antelope", major: 27 });
    // The Debian package the Zed fixtures come from (SOURCES.md).
    expect(releaseFromVersion("2:26.2.2-1~deb12u5")).toEqual({ name: "zed", major: 26 });
    expect(releaseFromVersion("13.1.4-1.el7")).toEqual({ name: "mitaka", major: 13 });
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
    expect(err.message).toContain("2025.2");
    expect(() => releaseFromVersion("not a version")).toThrow(/not a nova version/);
  });
});

describe("releaseByName", () => {
  it("accepts code names in any case, year names and versions", () => {
    expect(releaseByName("Zed")).toEqual({ name: "zed", major: 26 });
    expect(releaseByName("zed")).toEqual({ name: "zed", major: 26 });
    expect(releaseByName("2023.1")).toEqual({ name: "antelope", major: 27 });
    expect(releaseByName("antelope")).toEqual({ name: "antelope", major: 27 });
    expect(releaseByName("2025.1")).toEqual({ name: "epoxy", major: 31 });
    expect(releaseByName("13.1.4")).toEqual({ name: "mitaka", major: 13 });
  });

  it("refuses names it does not know", () => {
    expect(() => releaseByName("liberty")).toThrow(/not an OpenStack release name migbot knows/);
    expect(() => releaseByName("2019.1")).toThrow(NovaConfError);
  });

  it("knows every major from 13 to 32, each under its own name", () => {
    const majors = Array.from({ length: 20 }, (_, i) => 13 + i);
    const releases = majors.map((major) => releaseFromVersion(`${major}.0.0`));
    expect(releases.map((r) => r.major)).toEqual(majors);
    expect(new Set(releases.map((r) => r.name)).size).toBe(majors.length);
    for (const r of releases) expect(releaseByName(r.name)).toEqual(r);
    expect(releaseFromVersion("20.0.0").name).toBe("train");
    expect(releaseLabel(releaseByName("bobcat"))).toBe("bobcat / 2023.2 (28)");
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
