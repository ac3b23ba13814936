/** What `/migrate audit` answers, as typed values: the port bot/presenters/audit.ts implements. */
import type { RequestOrigin } from "../queue/jobs";
import type { AuditEntry } from "./stream";

export interface AuditPresenter {
  /** Answers the person privately with the entries read, newest first. */
  entries(to: RequestOrigin, entries: AuditEntry[]): Promise<void>;
}
