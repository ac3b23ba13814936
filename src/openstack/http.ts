/**
 * One HTTP exchange with Keystone or Nova, with a timeout, mapping transport failures to coded
 * errors. Headers are never logged or put in messages: they carry the token.
 */
import { TimeoutError, UnreachableError } from "./errors";

export type FetchLike = typeof fetch;

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** Parsed JSON, or undefined for an empty body (e.g. Nova's 202s). */
  body: unknown;
  /** Raw text when the body was not JSON. */
  text: string;
}

/** Sends a request and reads the whole answer within `timeoutMs`. */
export async function exchange(
  fetchImpl: FetchLike,
  url: string,
  init: RequestInit,
  timeoutMs: number,
  what: string,
): Promise<HttpAnswer> {
  let res: Response;
  let text: string;
  try {
    res = await fetchImpl(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    text = await res.text();
  } catch (err) {
    if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
      throw new TimeoutError(
        `${what} did not answer within ${timeoutMs} ms (${safeUrl(url)}); it may be overloaded, try again`,
        { cause: err },
      );
    }
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new UnreachableError(
      `${what} is unreachable at ${safeUrl(url)}${cause ? ` (${cause})` : ""}; check the URL and that the service is up`,
      { cause: err },
    );
  }
  let body: unknown;
  if (text.trim() !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** The URL without query string or user info, for messages. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}
