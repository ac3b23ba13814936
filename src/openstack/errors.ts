/**
 * Coded errors for Keystone and Nova calls (the bolt-js `errors.ts` pattern): every error a user
 * may see has a code, a sentence saying what to do next, and whether retrying can help.
 * Messages never carry a password or a token: callers pass URLs and Nova's own messages only.
 */

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
  original?: unknown;
  /** Overrides the code's usual retryability, e.g. a timed-out POST whose outcome is unknown. */
  retryable?: boolean;
}

/** Base of all coded OpenStack errors. `retryable` tells a job runner whether to try again. */
export class OpenStackError extends Error {
  readonly retryable: boolean;
  readonly httpStatus?: number;
  readonly remoteMessage?: string;
  readonly original?: unknown;

  constructor(
    readonly code: OpenStackErrorCode,
    message: string,
    retryable: boolean,
    options: OpenStackErrorOptions = {},
  ) {
    super(message);
    this.name = "OpenStackError";
    this.retryable = options.retryable ?? retryable;
    this.httpStatus = options.httpStatus;
    this.remoteMessage = options.remoteMessage;
    this.original = options.original;
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

export function isOpenStackError(err: unknown): err is OpenStackError {
  return err instanceof OpenStackError;
}

/** Wraps anything thrown into an {@link OpenStackError}, keeping the original. */
export function asOpenStackError(err: unknown): OpenStackError {
  if (err instanceof OpenStackError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ServerError(`Unexpected error talking to OpenStack: ${message}`, { original: err });
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
