import { CodedError } from "../errors";

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
  | "FIX_INTEGRITY"
  /** This process has no presenter, so it cannot post proposals (a wiring mistake). */
  | "FIX_NO_PRESENTER"
  /** This process holds no worker key, so it cannot seal or check proposals (a wiring mistake). */
  | "FIX_NO_SEALER";

/**
 * Whether each code is worth an automatic retry. None is: a fix changes a host, and it runs only
 * when a person approved it with the host as it was then. A file changed, a migration started, a
 * write or a restart failed, an integrity check failed: each needs a person to look (and usually a
 * fresh proposal), never a silent second attempt.
 */
const RETRYABLE: Record<FixErrorCode, boolean> = {
  FIX_FILE_CHANGED: false,
  FIX_MIGRATION_RUNNING: false,
  FIX_ABORT_TIMEOUT: false,
  FIX_WRITE_FAILED: false,
  FIX_VERIFY_FAILED: false,
  FIX_SERVICE_NOT_UP: false,
  FIX_NOT_APPROVED: false,
  FIX_NOVA_CANNOT_REBOOT: false,
  FIX_VM_RESTART_FAILED: false,
  FIX_PLAN_MISMATCH: false,
  FIX_INTEGRITY: false,
  FIX_NO_PRESENTER: false,
  FIX_NO_SEALER: false,
};

/** Why a fix was refused or stopped. */
export class FixError extends CodedError<FixErrorCode> {
  constructor(code: FixErrorCode, message: string) {
    super(code, message, { retryable: RETRYABLE[code] });
  }
}
