/**
 * The shape of an HTTP answer, for comparing two clouds without comparing their values: the status,
 * the headers that carry meaning (microversion headers by value, ids and tokens by presence) and
 * the JSON body reduced to its keys and types. Arrays keep one merged element shape, so two lists
 * of different lengths compare by what their items look like.
 */

/** A JSON value's shape: a type name, an object's keys, or an array's merged element shape. */
export type Shape =
  | { t: "string" | "number" | "boolean" | "null" }
  | { t: "object"; keys: Record<string, Shape> }
  | { t: "array"; of: Shape | null }
  /** Several shapes seen at one place (array items that differ, e.g. a string and a null). */
  | { t: "union"; of: Shape[] };

/** Headers compared by value: they follow from the request, so both clouds must say the same. */
export const HEADERS_BY_VALUE = [
  "content-type",
  "openstack-api-version",
  "x-openstack-nova-api-version",
  "vary",
] as const;
/** Headers compared by presence: their values are ids or secrets. */
export const HEADERS_BY_PRESENCE = [
  "x-subject-token",
  "www-authenticate",
  "x-compute-request-id",
  "x-openstack-request-id",
  "location",
] as const;

/** What one call answered, reduced to what is compared. */
export interface Observed {
  status: number;
  /** Value for {@link HEADERS_BY_VALUE}, `"(present)"` for {@link HEADERS_BY_PRESENCE}; absent headers omitted. */
  headers: Record<string, string>;
  /** Null for an empty body (Nova's 202s); `{ t: "string" }` for a body that is not JSON. */
  body: Shape | null;
}

/** The shape of a parsed JSON value. */
export function shapeOf(value: unknown): Shape {
  if (value === null) return { t: "null" };
  if (Array.isArray(value)) {
    let of: Shape | null = null;
    for (const item of value) of = of === null ? shapeOf(item) : mergeShapes(of, shapeOf(item));
    return { t: "array", of };
  }
  switch (typeof value) {
    case "string":
      return { t: "string" };
    case "number":
      return { t: "number" };
    case "boolean":
      return { t: "boolean" };
    case "object": {
      const keys: Record<string, Shape> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) keys[k] = shapeOf(v);
      return { t: "object", keys };
    }
    default:
      return { t: "string" };
  }
}

function sameShape(a: Shape, b: Shape): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** One shape covering both (objects merge key by key; different types become a union). */
export function mergeShapes(a: Shape, b: Shape): Shape {
  if (a.t === "object" && b.t === "object") {
    const keys: Record<string, Shape> = { ...a.keys };
    for (const [k, v] of Object.entries(b.keys)) keys[k] = keys[k] ? mergeShapes(keys[k]!, v) : v;
    return { t: "object", keys };
  }
  if (a.t === "array" && b.t === "array") {
    if (a.of === null) return b;
    if (b.of === null) return a;
    return { t: "array", of: mergeShapes(a.of, b.of) };
  }
  if (sameShape(a, b)) return a;
  const members = [...(a.t === "union" ? a.of : [a]), ...(b.t === "union" ? b.of : [b])];
  const unique: Shape[] = [];
  for (const m of members) if (!unique.some((u) => sameShape(u, m))) unique.push(m);
  return unique.length === 1 ? unique[0]! : { t: "union", of: unique };
}

function typeName(s: Shape): string {
  return s.t === "union" ? s.of.map(typeName).join("|") : s.t;
}

/**
 * Where two shapes differ, one line each: `path: only in <a>`, `path: only in <b>`, or
 * `path: <a type> vs <b type>`. An empty array matches any array.
 */
export function shapeDifferences(a: Shape | null, b: Shape | null, names: [string, string]): string[] {
  const out: string[] = [];
  const walk = (x: Shape | null, y: Shape | null, path: string) => {
    if (x === null || y === null) {
      if (x !== y)
        out.push(`${path || "(body)"}: ${x === null ? `empty in ${names[0]}` : `empty in ${names[1]}`}`);
      return;
    }
    if (x.t === "object" && y.t === "object") {
      for (const k of Object.keys(x.keys).sort()) {
        const p = path ? `${path}.${k}` : k;
        if (!(k in y.keys)) out.push(`${p}: only in ${names[0]}`);
        else walk(x.keys[k]!, y.keys[k]!, p);
      }
      for (const k of Object.keys(y.keys).sort()) {
        if (!(k in x.keys)) out.push(`${path ? `${path}.${k}` : k}: only in ${names[1]}`);
      }
      return;
    }
    if (x.t === "array" && y.t === "array") {
      if (x.of !== null && y.of !== null) walk(x.of, y.of, `${path}[]`);
      return;
    }
    if (!sameShape(x, y))
      out.push(`${path || "(body)"}: ${typeName(x)} in ${names[0]}, ${typeName(y)} in ${names[1]}`);
  };
  walk(a, b, "");
  return out;
}

/** Every difference between two observations of the same call: status, headers, body. */
export function observedDifferences(a: Observed, b: Observed, names: [string, string]): string[] {
  const out: string[] = [];
  if (a.status !== b.status) out.push(`status: ${a.status} in ${names[0]}, ${b.status} in ${names[1]}`);
  for (const h of [...HEADERS_BY_VALUE, ...HEADERS_BY_PRESENCE]) {
    const x = a.headers[h];
    const y = b.headers[h];
    if (x === y) continue;
    out.push(
      `header ${h}: ${x === undefined ? "absent" : JSON.stringify(x)} in ${names[0]}, ${y === undefined ? "absent" : JSON.stringify(y)} in ${names[1]}`,
    );
  }
  out.push(...shapeDifferences(a.body, b.body, names).map((d) => `body ${d}`));
  return out;
}

/** Reduces a fetch answer to an {@link Observed}. */
export async function observe(response: Response): Promise<Observed> {
  const headers: Record<string, string> = {};
  for (const h of HEADERS_BY_VALUE) {
    const v = response.headers.get(h);
    if (v !== null) headers[h] = v;
  }
  for (const h of HEADERS_BY_PRESENCE) if (response.headers.has(h)) headers[h] = "(present)";
  const text = await response.text();
  let body: Shape | null = null;
  if (text.trim() !== "") {
    try {
      body = shapeOf(JSON.parse(text));
    } catch {
      body = { t: "string" };
    }
  }
  return { status: response.status, headers, body };
}
