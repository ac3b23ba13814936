import { CodedError } from "../errors";

/** Codes of the errors this module raises; each message says what to do next. */
export type NovaFactsErrorCode = "NOVA_FACTS_UNKNOWN_RELEASE" | "NOVA_FACTS_INVALID_INPUT";

/** A release migbot has no facts for, or an input Nova itself would never see (a negative size). */
export class NovaFactsError extends CodedError<NovaFactsErrorCode> {
  constructor(code: NovaFactsErrorCode, message: string) {
    // Not retryable: the release or the input is wrong, and stays wrong.
    super(code, message, { retryable: false });
  }
}
