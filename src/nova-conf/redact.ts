/**
 * Masks secrets in nova.conf text meant for people (diffs in Slack, the audit log): values of
 * password/secret/token-like options, and the password part of URLs such as
 * `connection = mysql+pymysql://nova:<password>@db/nova` or `transport_url = rabbit://…`.
 * The files on the hosts are never touched by this: it only changes what is shown.
 */

const SECRET_KEY_RE = /(password|passwd|secret|token|credential|_key$|^key$|private)/i;
const URL_CREDENTIALS_RE = /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]+)(@)/gi;
export const REDACTED = "<redacted>";

/** One ini line, with a diff marker (' ', '+', '-') or none, secrets masked. */
export function redactConfLine(line: string): string {
  const m = /^([ +-]?)(\s*[#;]?\s*)([A-Za-z0-9_.-]+)(\s*=\s*)(.*)$/.exec(line);
  if (m) {
    const [, marker, lead, key, eq, value] = m;
    if (
      value !== undefined &&
      value.trim() !== "" &&
      SECRET_KEY_RE.test(key!) &&
      !/^<None>$/.test(value.trim())
    ) {
      return `${marker}${lead}${key}${eq}${REDACTED}`;
    }
  }
  return line.replace(URL_CREDENTIALS_RE, `$1${REDACTED}$3`);
}

/** A whole text (a file or a unified diff), line by line. Diff headers are left alone. */
export function redactConfText(text: string): string {
  return text
    .split("\n")
    .map((line) =>
      line.startsWith("---") || line.startsWith("+++") || line.startsWith("@@") ? line : redactConfLine(line),
    )
    .join("\n");
}
