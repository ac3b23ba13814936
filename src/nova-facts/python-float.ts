/**
 * Python's arithmetic where Nova's numbers depend on it. Nova computes its exponential downtime
 * steps (Mitaka, Newton) with `float ** float`, which is C `pow`, and truncates with `int()`. The
 * glibc of that era's distributions used the IBM Accurate Mathematical Library's `pow` (e_pow.c),
 * which states it returns the correctly rounded value; that is what {@link pythonPow} returns.
 * V8's `**` can land one unit in the last place away, which moves `int()` across an integer (a
 * 100 ms schedule in 18 steps ends at 99 ms in Nova, at 100 ms with V8). Today's glibc is not
 * always correctly rounded either: Python 3 on glibc 2.36 differs in 22 of 359,955 steps of a
 * 100–3000 ms × 3–40-step grid, V8 in 1,919. Python 2 (the
 * interpreter of Mitaka–Ocata, and one of two for Pike–Train) divides two ints with floor division,
 * which changes Nova's data size and linear downtime steps for sizes that are not whole GiB.
 */

/** Which Python runs nova-compute: 2 floors `int / int`, 3 divides exactly. */
export type PythonMajor = 2 | 3;

/** Fractional bits of the fixed-point arithmetic behind {@link pythonPow}; doubled on an undecidable rounding. */
const POW_PRECISION_BITS = 320;
/** Beyond this precision an undecidable rounding is a true midpoint, which x^y never is for Nova's inputs. */
const POW_MAX_PRECISION_BITS = 5120;
/** Series error allowance, in units of the last fixed-point bit, before a rounding counts as undecidable. */
const POW_ERROR_BITS = 48;

const F64 = new DataView(new ArrayBuffer(8));

/** A positive finite double as `m × 2^e` with an integer `m` (exact). */
function decompose(x: number): { m: bigint; e: number } {
  F64.setFloat64(0, x);
  const bits = F64.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  if (biased === 0) return { m: fraction, e: -1074 };
  return { m: fraction | (1n << 52n), e: biased - 1075 };
}

/** 2^k as a double, for k in the normal range (exact, unlike a `**` that is not guaranteed to be). */
function powerOfTwo(k: number): number {
  if (k < -1022 || k > 1023) throw new RangeError(`2^${k} is outside the normal double range`);
  F64.setBigUint64(0, BigInt(k + 1023) << 52n);
  return F64.getFloat64(0);
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/** `value × 2^shift` for a possibly negative shift (arithmetic shift right truncates toward −∞). */
function shiftBy(value: bigint, shift: number): bigint {
  return shift >= 0 ? value << BigInt(shift) : value >> BigInt(-shift);
}

/** ⌊a / b⌋ for BigInts, b > 0 (BigInt `/` truncates toward zero). */
function floorDivide(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

/** atanh(t) for a fixed-point 0 ≤ t < 1/2 (scaled by 2^p), by its odd power series. */
function atanhFixed(t: bigint, p: bigint): bigint {
  const t2 = (t * t) >> p;
  let term = t;
  let sum = 0n;
  for (let k = 1n; term !== 0n; k += 2n) {
    sum += term / k;
    term = (term * t2) >> p;
  }
  return sum;
}

/** ln(x) for a positive finite double, fixed-point scaled by 2^p. */
function lnFixed(x: number, p: bigint, ln2: bigint): bigint {
  const { m, e } = decompose(x);
  const k = bitLength(m) - 1;
  // x = f × 2^(k + e) with f = m / 2^k in [1, 2); ln f = 2·atanh((f − 1) / (f + 1)).
  const one = 1n << p;
  const f = m << (p - BigInt(k));
  const t = ((f - one) << p) / (f + one);
  return 2n * atanhFixed(t, p) + BigInt(k + e) * ln2;
}

/** e^r × 2^n for a fixed-point r (scaled by 2^p): returns the fixed-point mantissa and n. */
function expFixed(l: bigint, p: bigint, ln2: bigint): { mantissa: bigint; twoPower: number } {
  // l = n·ln2 + r with |r| ≤ ln2 / 2.
  const n = floorDivide(2n * l + ln2, 2n * ln2);
  const r = l - n * ln2;
  const one = 1n << p;
  let term = one;
  let sum = one;
  for (let k = 1n; term !== 0n; k += 1n) {
    term = (term * r) / one / k;
    sum += term;
  }
  return { mantissa: sum, twoPower: Number(n) };
}

/**
 * `x ** y` as CPython computes it for floats (C `pow`, correctly rounded): exact fixed-point
 * logarithm and exponential, then one rounding to the nearest double. For x > 0 and finite y.
 */
export function pythonPow(x: number, y: number, precisionBits: number = POW_PRECISION_BITS): number {
  if (!(x > 0) || !Number.isFinite(x) || !Number.isFinite(y)) {
    throw new RangeError(`pythonPow(${x}, ${y}): only a positive finite base and a finite exponent`);
  }
  if (y === 0 || x === 1) return 1;
  if (y === 1) return x;
  const p = BigInt(precisionBits);
  const ln2 = 2n * atanhFixed((1n << p) / 3n, p);
  const { m: ym, e: ye } = decompose(Math.abs(y));
  const lnx = lnFixed(x, p, ln2);
  const product = shiftBy(lnx * ym, ye);
  const { mantissa, twoPower } = expFixed(y < 0 ? -product : product, p, ln2);
  // mantissa × 2^(twoPower − p) is the result; round it to 53 significant bits.
  const extra = bitLength(mantissa) - 53;
  let q = mantissa >> BigInt(extra);
  const rest = mantissa - (q << BigInt(extra));
  const half = 1n << BigInt(extra - 1);
  const slack = 1n << BigInt(POW_ERROR_BITS);
  if (rest > half - slack && rest < half + slack) {
    if (precisionBits * 2 > POW_MAX_PRECISION_BITS) {
      throw new RangeError(`pythonPow(${x}, ${y}): the result sits on a rounding midpoint`);
    }
    return pythonPow(x, y, precisionBits * 2);
  }
  if (rest >= half + slack) q += 1n;
  return Number(q) * powerOfTwo(extra + twoPower - precisionBits);
}

/** Python's `a / b` for two ints: floor division on Python 2, exact division on Python 3. */
export function pythonIntDivide(a: number, b: number, python: PythonMajor): number {
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || b === 0) {
    throw new RangeError(`pythonIntDivide(${a}, ${b}): Python int division needs two ints and b ≠ 0`);
  }
  if (python === 3) return a / b;
  const [bigA, bigB] = b < 0 ? [-BigInt(a), -BigInt(b)] : [BigInt(a), BigInt(b)];
  return Number(floorDivide(bigA, bigB));
}

/** Python's `int(x)`: truncation toward zero. */
export function pythonInt(x: number): number {
  return Math.trunc(x);
}
