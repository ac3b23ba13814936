/**
 * What the sandbox's Keystone and Nova API share: an HTTP error carrying its JSON body, Nova's
 * fault body per status, reading a JSON request body within Nova's size limit, sending JSON, and
 * the stable ids both derive from names (so ids stay the same across restarts).
 */
import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { CodedError } from "../errors";

/** Request bodies above this are refused; Nova's own limit (`max_request_body_size`) is 112 KiB. */
const MAX_REQUEST_BODY_BYTES = 112 * 1024;

/** An answer other than success: its status and the JSON body to send. */
export class HttpError extends CodedError<"SANDBOX_HTTP_ERROR"> {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    // As a client would see it: a 5xx may pass, a 4xx will not.
    super("SANDBOX_HTTP_ERROR", `HTTP ${status}`, { retryable: status >= 500 });
  }
}

/** Nova's fault names by status (nova/api/openstack/wsgi.py `Fault._fault_names`). */
const NOVA_FAULT_NAMES: Record<number, string> = {
  400: "badRequest",
  401: "unauthorized",
  403: "forbidden",
  404: "itemNotFound",
  405: "badMethod",
  409: "conflictingRequest",
  413: "overLimit",
  415: "badMediaType",
  429: "overLimit",
  501: "notImplemented",
  503: "serviceUnavailable",
};

/** Nova's error answer: `{ "<faultName>": { code, message } }`. */
export function novaFault(status: number, message: string): HttpError {
  return new HttpError(status, { [NOVA_FAULT_NAMES[status] ?? "computeFault"]: { code: status, message } });
}

/** Nova's "resource could not be found", for any path or method it does not serve. */
export function notFound(): HttpError {
  return novaFault(404, "The resource could not be found.");
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An md5 hex digest of a seed: the shape of Keystone's ids. */
export function hexId(seed: string): string {
  return createHash("md5").update(seed).digest("hex");
}

/** A stable UUID derived from a seed, for ids Nova shows as UUIDs from 2.53 on. */
export function uuidFrom(seed: string): string {
  const h = hexId(seed);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The request's JSON body; `fail` makes the error for a body too large, empty or not JSON. */
export async function readJson(req: IncomingMessage, fail: (message: string) => HttpError): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BODY_BYTES) throw fail("Request body too large");
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw fail("Malformed request body");
  try {
    return JSON.parse(text);
  } catch {
    throw fail("Malformed request body");
  }
}

/** Nova's faults carry webob's charset (`application/json; charset=UTF-8`, seen from real Zed). */
export const FAULT_CONTENT_TYPE = "application/json; charset=UTF-8";

/**
 * Sends `body` as JSON (or nothing when it is undefined) with `headers`. The content type is
 * `application/json` unless `headers` names one; an empty answer carries it only when asked
 * (`emptyAsJson`: Nova's 202s say `application/json` with no body).
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  emptyAsJson = false,
): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  const typed = body !== undefined || emptyAsJson;
  res.writeHead(status, {
    ...(typed ? { "Content-Type": "application/json" } : {}),
    ...headers,
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** A request id as OpenStack services print it (`req-<uuid>`). */
export function newApiRequestId(): string {
  return `req-${randomUUID()}`;
}

/** A handler's answer: status, JSON body (none for 202/204), extra headers. */
export interface ApiResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * A JSON value as Python's `repr` prints it, which Nova's schema errors quote (`{'host': 'cmp1',
 * 'force': False}`, `'GENTLY'`), so the sandbox's error texts read as real Nova's.
 */
export function pythonRepr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(value);
  if (typeof value === "string") return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(", ")}]`;
  if (typeof value === "object") {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${pythonRepr(k)}: ${pythonRepr(v)}`)
      .join(", ")}}`;
  }
  return String(value);
}
