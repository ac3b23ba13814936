/** Text drawn into a chart: outside names made plain and short (ECharts escapes the SVG markup itself). */

/** Longest heading drawn; longer ones end with an ellipsis so the picture keeps its layout. */
export const CHART_TITLE_MAX_CHARS = 80;

const MIB = 1024 ** 2;

/**
 * A line of outside text (a VM or host name is tenant- or operator-chosen) as a chart label: control
 * characters (newlines, bidi overrides) become spaces, and it is cut to `max` characters.
 */
export function plainLabel(text: string, max = CHART_TITLE_MAX_CHARS): string {
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Bytes as MiB with two decimals (what the axes are in). */
export function mib(bytes: number): number {
  return Math.round((bytes / MIB) * 100) / 100;
}
