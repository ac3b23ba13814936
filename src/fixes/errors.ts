/** Coded reasons a fix is refused or stops; each message says what to do next. */
export type FixErrorCode =
  | "FIX_FILE_CHANGED"
  | "FIX_MIGRATION_RUNNING"
  | "FIX_ABORT_TIMEOUT"
  | "FIX_WRITE_FAILED"
  | "FIX_VERIFY_FAILED"
  | "FIX_SERVICE_NOT_UP"
  | "FIX_NOT_APPROVED"
  | "FIX_NOVA_CANNOT_REBOOT"
  | "FIX_VM_RESTART_FAILED"
  /** The fix, planned again from the files as they are now, does not come out as approved. */
  | "FIX_PLAN_MISMATCH"
  /** The proposal or its apply job failed its integrity check: altered or forged in Redis. */
  | "FIX_INTEGRITY";

export class FixError extends Error {
  constructor(
    readonly code: FixErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "FixError";
  }
}
