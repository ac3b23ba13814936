import { describe, expect, it } from "vitest";
import { pythonIntDivide, pythonPow } from "../../src/nova-facts";

/** The IEEE-754 bits of a double as C's "%a" prints them, e.g. 0x1.2a2eb0dbb5f82p+0. */
function hex(x: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const exponent = Number((bits >> 52n) & 0x7ffn) - 1023;
  const fraction = (bits & ((1n << 52n) - 1n)).toString(16).padStart(13, "0");
  return `0x1.${fraction}p${exponent >= 0 ? "+" : ""}${exponent}`;
}

describe("pythonPow", () => {
  it("is exact where the answer is exact", () => {
    expect(pythonPow(2, 10)).toBe(1024);
    expect(pythonPow(4, 0.5)).toBe(2);
    expect(pythonPow(1024, 0.1)).toBe(2);
    expect(pythonPow(7.25, 1)).toBe(7.25);
    expect(pythonPow(7.25, 0)).toBe(1);
    expect(pythonPow(3, 2)).toBe(9);
  });

  // Expected values: the double nearest to x^y, computed with Python's decimal module at 120
  // digits (Decimal(x).ln() * Decimal(y)).exp(), then float(); the pre-2018 glibc pow that
  // Mitaka/Newton hosts ran states it returns exactly that (correctly rounded to nearest).
  it("rounds correctly where V8 and today's glibc are one unit off", () => {
    // x and y of Nova's base for downtime 184 ms in 34 steps: offset = 184 / 35.0.
    const x184 = 184 - 184 / 35;
    expect(hex(x184)).toBe("0x1.657c57c57c57cp+7");
    const base184 = pythonPow(x184, 1 / 34);
    expect(hex(base184)).toBe("0x1.2a2eb0dbb5f82p+0"); // glibc 2.36 gives …f81
    expect(hex(pythonPow(base184, 34))).toBe("0x1.657c57c57c590p+7");
    // downtime 100 ms in 18 steps: V8's ** makes the last step 100.00000000000014 (int 100).
    const x100 = 100 - 100 / 19;
    const base100 = pythonPow(x100, 1 / 18);
    expect(hex(base100)).toBe("0x1.49a5229d1a0a1p+0");
    expect(hex(pythonPow(base100, 18))).toBe("0x1.7af286bca1ae8p+6");
    expect(Math.trunc(100 / 19 + pythonPow(base100, 18))).toBe(99);
  });
});

describe("pythonIntDivide", () => {
  it("floors on Python 2 and divides exactly on Python 3", () => {
    expect(pythonIntDivide(3584 * 1024 ** 2, 1024 ** 3, 2)).toBe(3);
    expect(pythonIntDivide(3584 * 1024 ** 2, 1024 ** 3, 3)).toBe(3.5);
    expect(pythonIntDivide(-7, 2, 2)).toBe(-4);
    expect(() => pythonIntDivide(1.5, 2, 2)).toThrow(/two ints/);
  });
});
