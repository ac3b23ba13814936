/**
 * Coded errors of the nova-conf module. Every message says what is wrong and what to do next,
 * because these reach operators through `/diagnose`, fix proposals and the `nova-conf` CLI.
 */
import { CodedError } from "../errors";

export type NovaConfErrorCode =
  /** A version string or release name migbot does not know. */
  | "NOVA_CONF_UNKNOWN_RELEASE"
  /** The text is not something oslo.config can parse (nova-compute would refuse to start). */
  | "NOVA_CONF_PARSE"
  /** A value oslo.config or nova would reject (wrong type, not a choice, below the minimum, unknown flag). */
  | "NOVA_CONF_INVALID_VALUE"
  /** An edit changed something other than the keys it was asked to change (a bug: nothing is written). */
  | "NOVA_CONF_EDIT_UNSAFE"
  /** A request migbot cannot plan, e.g. an option that does not exist in that release. */
  | "NOVA_CONF_UNSUPPORTED";

/**
 * No message quotes a secret: parse errors never quote the line, and values are quoted only for
 * options that are not secret, through `shownValue` (redact.ts).
 */
export class NovaConfError extends CodedError<NovaConfErrorCode> {
  constructor(
    code: NovaConfErrorCode,
    message: string,
    /** Where the problem is, when it is in a file. */
    readonly location?: { path: string; line: number; key?: string },
    /** For NOVA_CONF_PARSE: oslo.config's own reason (iniparser.py's words), without the line. */
    readonly reason?: string,
  ) {
    // None is retryable: each is about the text or the request, which a retry does not change.
    super(code, message, { retryable: false });
  }
}
