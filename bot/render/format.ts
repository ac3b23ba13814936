/** Small pure formatters shared by the Block Kit renderers. */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Bytes as an operator reads them: `1.5 GiB`, `340 MiB`, `12 KiB`. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "?";
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(bytes >= 10 * GiB ? 0 : 1)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(bytes >= 100 * MiB ? 0 : 1)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${Math.round(bytes)} B`;
}

/** A rate in bytes per second as `MiB/s`. */
export function formatRate(bytesPerS: number | null | undefined): string {
  if (bytesPerS === null || bytesPerS === undefined || !Number.isFinite(bytesPerS)) return "?";
  return `${(bytesPerS / MiB).toFixed(bytesPerS >= 100 * MiB ? 0 : 1)} MiB/s`;
}

/** A duration: `850 ms`, `42 s`, `3 min 05 s`, `1 h 02 min`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "?";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** A text progress bar: `▓▓▓▓▓░░░░░ 52%`. */
export function progressBar(fraction: number, width = 20): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * width);
  return `${"▓".repeat(filled)}${"░".repeat(width - filled)} ${Math.floor(f * 100)}%`;
}

/** Escapes text for Slack mrkdwn (&, <, >), so user-typed names cannot form links or mentions. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Clips text to a Block Kit field limit, saying that it was clipped. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 12)}… (clipped)`;
}

/** Slack's date formatting token, readable in every user's timezone. */
export function slackDate(ms: number): string {
  // A timestamp read back from Redis may be anything: show that rather than throw mid-render.
  if (!Number.isFinite(ms)) return "(unknown time)";
  const s = Math.floor(ms / 1000);
  return `<!date^${s}^{date_short_pretty} {time_secs}|${new Date(ms).toISOString()}>`;
}

/**
 * Outside text as an inline code span: escaped, with backticks (which would close the span and let
 * the rest be read as mrkdwn) replaced by a look-alike, and never empty.
 */
export function codeSpan(text: string): string {
  const safe = escapeMrkdwn(text).replace(/`/g, "ˋ").replace(/\n/g, " ");
  return `\`${safe === "" ? " " : safe}\``;
}

/** Outside text in bold: escaped, with the `*` that would end the bold replaced by a look-alike. */
export function bold(text: string): string {
  return `*${escapeMrkdwn(text).replace(/\*/g, "∗").replace(/`/g, "ˋ").replace(/\n/g, " ")}*`;
}

/** A mention of a Slack user by id; anything that is not a user id is shown escaped, not linked. */
export function mention(userId: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(userId) ? `<@${userId}>` : escapeMrkdwn(userId);
}
