/**
 * The emulator's own error: a mistake in how the emulator itself was driven (an unknown user, a
 * button that is not there), as opposed to a Slack API error, which goes to the app as Slack would
 * send it.
 */
import { CodedError } from "../../errors";

export type SlackEmulatorErrorCode =
  | "EMU_NO_DELIVERY_URL"
  | "EMU_UNKNOWN_USER"
  | "EMU_UNKNOWN_CHANNEL"
  | "EMU_MESSAGE_NOT_FOUND"
  | "EMU_BUTTON_NOT_FOUND"
  | "EMU_BUTTON_AMBIGUOUS"
  | "EMU_BAD_COMMAND";

/** A mistake in how the emulator itself was driven (not a Slack API error, which goes to the app). */
export class SlackEmulatorError extends CodedError<SlackEmulatorErrorCode> {
  constructor(code: SlackEmulatorErrorCode, message: string) {
    // Not retryable: the test or console drove the emulator wrongly.
    super(code, message, { retryable: false });
  }
}
