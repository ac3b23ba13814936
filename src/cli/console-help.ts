/** What the sandbox console chat understands (shown by `migbot start --help` and `help`). */
export const CONSOLE_HELP = [
  "Type what you would type in Slack, in #ops:",
  "  /migrate vm-42 to compute-3        /migrate db-1 to compute-2       /migrate status",
  "  /diagnose web-7 to compute-5       /migrate help",
  "  click <label> [in <text>]          press a button (waits for it to appear), e.g. click Abort,",
  "                                     click Approve in VM restart (the message must contain <text>)",
  "  /home                              show your App Home tab (what runs now, proposals for approvers, outcomes)",
  "  as <user> <line>                   act as another user: alice (operator), bob (approver), carol (no role)",
  "  help, quit",
].join("\n");
