/**
 * Coded errors for Keystone and Nova calls: every error a user may see has a code, a sentence
 * saying what to do next, and whether retrying can help. Retryable: OPENSTACK_UNREACHABLE,
 * OPENSTACK_TIMEOUT (except a write whose outcome is unknown, see nova.ts) and
 * OPENSTACK_SERVER_ERROR (5xx): the service may come back. Not retryable: bad credentials or
 * config, and Nova's 4xx answers (unknown VM, bad request such as a CPU mismatch, conflicting
 * state, unsupported, ambiguous name), which a retry would only repeat.
 * Messages never carry a password or a token: callers pass URLs and Nova's own messages only.
 */
import { CodedError } from "../errors";

export enum OpenStackErrorCode {
  AuthFailed = "OPENSTACK_AUTH_FAILED",
  Unreachable = "OPENSTACK_UNREACHABLE",
  Timeout = "OPENSTACK_TIMEOUT",
  ConfigInvalid = "OPENSTACK_CONFIG_INVALID",
  NotFound = "NOVA_NOT_FOUND",
  BadRequest = "NOVA_BAD_REQUEST",
  Conflict = "NOVA_CONFLICT",
  Unsupported = "NOVA_UNSUPPORTED",
  /** Several servers carry the name asked for. */
  AmbiguousName = "NOVA_AMBIGUOUS_NAME",
  /** Nova or Keystone answered 5xx, or something Nova never sends. */
  ServerError = "OPENSTACK_SERVER_ERROR",
}

export interface OpenStackErrorOptions {
  /** HTTP status, when the error came from an answer. */
  httpStatus?: number;
  /** Nova's or Keystone's own message, verbatim. */
  remoteMessage?: string;
  /** The error this one wraps (kept as `cause`). */
  cause?: unknown;
  /** Overrides the code's usual retryability, e.g. a timed-out POST whose outcome is unknown. */
  retryable?: boolean;
}

/** Base of all coded OpenStack errors. */
export class OpenStackError extends CodedError<OpenStackErrorCode> {
  /** HTTP status, when the error came from an answer. */
  readonly httpStatus?: number;
  /** Nova's or Keystone's own message, verbatim. */
  readonly remoteMessage?: string;

  constructor(
    code: OpenStackErrorCode,
    message: string,
    retryable: boolean,
    options: OpenStackErrorOptions = {},
  ) {
    super(code, message, { retryable: options.retryable ?? retryable, cause: options.cause });
    this.httpStatus = options.httpStatus;
    this.remoteMessage = options.remoteMessage;
  }
}

export class AuthFailedError extends OpenStackError {
  constructor(message: string, options?: OpenStackErrorOptions) {
    super(OpenStackErrorCode.AuthFailed, message, false, options);
  }
}

export class UnreachableError extends OpenStackError {
  constructor(message: string, options?: OpenStackErrorOptions) {
    super(OpenStackErrorCode.Unreachable, message, true, options);
  }
}

export class TimeoutError extends OpenStackError {
  constructor(message: string, options?: OpenStackErrorOptions) {
    super(OpenStackErrorCode.Timeout, message, true, options);
  }
}

export class ConfigInvalidError extends OpenStackError {
  constructor(message: string, options?: OpenStackErrorOptions) {
    super(OpenStackErrorCode.ConfigInvalid, message, false, options);
  }
}

export class NovaNotFoundError extends OpenStackError {
  constructor(message: string, options?: OpenStackErrorOptions) {
    super(OpenStackErrorCode.NotFound, message, false, options);
  }
}

/** Nova refused the request; `message` is Nova's text verbatim, since it is what the user must act on. */
export class NovaBadRequestError extends OpenStackError {
  constructor(message: string, options?: OpenStackErrorOptions) {
    super(OpenStackErrorCode.BadRequest, message, false, options);
  }
}

export class NovaConflictError extends OpenStackError {
  constructor(message: string, options?: OpenStackErrorOptions) {
    super(OpenStackErrorCode.Conflict, message, false, options);
  }
}

export class NovaUnsupportedError extends OpenStackError {
  constructor(message: string, options?: OpenStackErrorOptions) {
    super(OpenStackErrorCode.Unsupported, message, false, options);
  }
}

export class NovaAmbiguousNameError extends OpenStackError {
  constructor(message: string, options?: OpenStackErrorOptions) {
    super(OpenStackErrorCode.AmbiguousName, message, false, options);
  }
}

export class ServerError extends OpenStackError {
  constructor(message: string, options?: OpenStackErrorOptions) {
    super(OpenStackErrorCode.ServerError, message, true, options);
  }
}

/**
 * Pulls the human message out of an OpenStack error body: Nova's `{"<fault>": {"code", "message"}}`
 * or Keystone's `{"error": {"code", "message", "title"}}`.
 */
export function remoteErrorMessage(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  for (const value of Object.values(body)) {
    if (
      typeof value === "object" &&
      value !== null &&
      typeof (value as { message?: unknown }).message === "string"
    ) {
      return (value as { message: string }).message;
    }
  }
  return undefined;
}
