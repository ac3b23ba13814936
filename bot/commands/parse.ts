/**
 * Strict, friendly parsing of `/migrate` and `/diagnose` text. Pure: text in, a typed request or a
 * message saying what is wrong and showing the right form out.
 */

export type MigrateRequest =
  | { kind: "migrate"; vm: string; destination: string | null }
  | { kind: "status"; vm: string | null }
  | { kind: "abort"; vm: string }
  | { kind: "force-complete"; vm: string }
  | { kind: "audit"; count: number }
  | { kind: "help" };

export type DiagnoseRequest =
  | { kind: "diagnose"; target: string; destination: string | null }
  | { kind: "help" };

export type ParseResult<T> = { ok: true; request: T } | { ok: false; error: string };

/** Names of VMs and hosts migbot accepts: what Nova and libvirt names look like, nothing a shell reads. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const SHELL_META_RE = /[;&|<>()$`\\"'*?[\]{}~!#\n\r\t]/;
export const MAX_AUDIT_ENTRIES = 50;
export const DEFAULT_AUDIT_ENTRIES = 10;

/** Usage lines are mrkdwn: the placeholders are escaped so Slack does not read `<vm>` as a link. */
export const MIGRATE_USAGE = [
  "`/migrate &lt;vm&gt; to &lt;host&gt;` — live-migrate a VM to a host",
  "`/migrate &lt;vm&gt;` — live-migrate a VM; Nova's scheduler picks the host",
  "`/migrate status [vm]` — migrations in progress (or one VM's)",
  "`/migrate abort &lt;vm&gt;` — abort a running live migration",
  "`/migrate force-complete &lt;vm&gt;` — pause the VM so the last copy finishes (approvers only)",
  "`/migrate audit [n]` — the last n approvals, rejections and host changes",
  "`/migrate help` — this help",
].join("\n");

export const DIAGNOSE_USAGE = [
  "`/diagnose &lt;vm&gt;` — check whether a VM can live-migrate, before anyone tries",
  "`/diagnose &lt;vm&gt; to &lt;host&gt;` — the same for a given destination",
  "`/diagnose &lt;host&gt;` — check a compute host's live-migration settings and logs",
].join("\n");

function describeBadName(name: string, what: string): string | null {
  if (NAME_RE.test(name)) return null;
  if (SHELL_META_RE.test(name)) {
    return `\`${visible(name)}\` is not a valid ${what} name: it contains shell characters (; | $ backticks quotes and the like), which never appear in Nova names.`;
  }
  if (name.length > 63) return `\`${visible(name)}\` is too long for a ${what} name (at most 63 characters).`;
  return `\`${visible(name)}\` is not a valid ${what} name (letters, digits, '.', '_' and '-', starting with a letter or digit).`;
}

/** Shows user text back inside backticks without letting it break out of them. */
function visible(text: string): string {
  const clipped = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return clipped.replace(/`/g, "'").replace(/[\r\n\t]/g, " ");
}

function words(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}

function fail<T>(problem: string, usage: string): ParseResult<T> {
  return { ok: false, error: `${problem}\n\nUsage:\n${usage}` };
}

function checkNames<T>(pairs: [string, string][], usage: string): ParseResult<T> | null {
  for (const [name, what] of pairs) {
    const problem = describeBadName(name, what);
    if (problem) return fail(problem, usage);
  }
  return null;
}

/** Parses the text after `/migrate`. */
export function parseMigrate(text: string): ParseResult<MigrateRequest> {
  const w = words(text);
  const [first, second, third, ...rest] = w;
  if (first === undefined || first === "help" || first === "--help")
    return { ok: true, request: { kind: "help" } };
  const verb = first.toLowerCase();
  if (verb === "status") {
    if (w.length > 2) return fail("`/migrate status` takes at most one VM name.", MIGRATE_USAGE);
    if (second === undefined) return { ok: true, request: { kind: "status", vm: null } };
    return (
      checkNames([[second, "VM"]], MIGRATE_USAGE) ?? { ok: true, request: { kind: "status", vm: second } }
    );
  }
  if (verb === "abort" || verb === "force-complete") {
    if (second === undefined || w.length > 2)
      return fail(`\`/migrate ${verb}\` takes one VM name.`, MIGRATE_USAGE);
    return checkNames([[second, "VM"]], MIGRATE_USAGE) ?? { ok: true, request: { kind: verb, vm: second } };
  }
  if (verb === "audit") {
    if (w.length > 2) return fail("`/migrate audit` takes at most one number.", MIGRATE_USAGE);
    if (second === undefined) return { ok: true, request: { kind: "audit", count: DEFAULT_AUDIT_ENTRIES } };
    if (!/^\d{1,3}$/.test(second) || Number(second) < 1 || Number(second) > MAX_AUDIT_ENTRIES) {
      return fail(`The number of audit entries must be from 1 to ${MAX_AUDIT_ENTRIES}.`, MIGRATE_USAGE);
    }
    return { ok: true, request: { kind: "audit", count: Number(second) } };
  }
  if (w.length === 1) {
    return (
      checkNames([[first, "VM"]], MIGRATE_USAGE) ?? {
        ok: true,
        request: { kind: "migrate", vm: first, destination: null },
      }
    );
  }
  if (w.length === 3 && second?.toLowerCase() === "to" && third !== undefined) {
    if (first === third) {
      return fail(`The VM and the destination have the same name (\`${visible(first)}\`).`, MIGRATE_USAGE);
    }
    return (
      checkNames(
        [
          [first, "VM"],
          [third, "host"],
        ],
        MIGRATE_USAGE,
      ) ?? { ok: true, request: { kind: "migrate", vm: first, destination: third } }
    );
  }
  const badName = w.map((x) => describeBadName(x, "VM or host")).find((p) => p !== null);
  if (badName) return fail(badName, MIGRATE_USAGE);
  if (w.length === 2 && second?.toLowerCase() === "to")
    return fail("Say which host to migrate to.", MIGRATE_USAGE);
  return fail(
    `I could not read \`${visible(text.trim())}\`${rest.length > 0 || w.length > 1 ? " (one VM, then optionally `to <host>`)" : ""}.`,
    MIGRATE_USAGE,
  );
}

/** Parses the text after `/diagnose`. */
export function parseDiagnose(text: string): ParseResult<DiagnoseRequest> {
  const w = words(text);
  const [first, second, third] = w;
  if (first === undefined || first === "help" || first === "--help")
    return { ok: true, request: { kind: "help" } };
  if (w.length === 1) {
    return (
      checkNames([[first, "VM or host"]], DIAGNOSE_USAGE) ?? {
        ok: true,
        request: { kind: "diagnose", target: first, destination: null },
      }
    );
  }
  if (w.length === 3 && second?.toLowerCase() === "to" && third !== undefined) {
    return (
      checkNames(
        [
          [first, "VM"],
          [third, "host"],
        ],
        DIAGNOSE_USAGE,
      ) ?? { ok: true, request: { kind: "diagnose", target: first, destination: third } }
    );
  }
  const badName = w.map((x) => describeBadName(x, "VM or host")).find((p) => p !== null);
  if (badName) return fail(badName, DIAGNOSE_USAGE);
  return fail(`I could not read \`${visible(text.trim())}\`.`, DIAGNOSE_USAGE);
}
