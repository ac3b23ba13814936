import { CodedError } from "../errors";
/** Why a lab command failed; each code maps to a process exit code and a next step for the user. */
export type LabErrorCode =
  | "LAB_USAGE"
  | "LAB_NOT_ROOT"
  | "LAB_NAMESPACES_UNAVAILABLE"
  | "LAB_PROGRAM_MISSING"
  | "LAB_ALREADY_UP"
  | "LAB_NOT_UP"
  | "LAB_ADDRESS_IN_USE"
  | "LAB_COMMAND_FAILED"
  | "LAB_TIMEOUT";

const EXIT_CODES: Record<LabErrorCode, number> = {
  LAB_USAGE: 2,
  LAB_NOT_ROOT: 2,
  LAB_NAMESPACES_UNAVAILABLE: 3,
  LAB_PROGRAM_MISSING: 4,
  LAB_ALREADY_UP: 5,
  LAB_NOT_UP: 6,
  LAB_ADDRESS_IN_USE: 5,
  LAB_COMMAND_FAILED: 1,
  LAB_TIMEOUT: 1,
};

/** An error a lab user sees: `[code] what went wrong — what to do next`. */
export class LabError extends CodedError<LabErrorCode> {
  constructor(code: LabErrorCode, message: string) {
    super(code, message, { retryable: false });
  }

  /** The process exit code `migbot lab` ends with for this error. */
  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}
