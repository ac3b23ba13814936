/** Codes of the errors this module raises; each message says what to do next. */
export type NovaFactsErrorCode = "NOVA_FACTS_UNKNOWN_RELEASE" | "NOVA_FACTS_INVALID_INPUT";

/** A release migbot has no facts for, or an input Nova itself would never see (a negative size). */
export class NovaFactsError extends Error {
  constructor(
    readonly code: NovaFactsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "NovaFactsError";
  }
}
