import { NovaConfError } from "./errors";

/**
 * A line-preserving model of an oslo.config ini file (nova.conf, nova-compute.conf).
 *
 * Parsing follows oslo.config's own parser rule for rule, so that what migbot believes a file says
 * is what nova-compute reads (openstack/oslo.config, oslo_config/iniparser.py `BaseParser.parse`
 * and oslo_config/cfg.py `ConfigParser`, `_Namespace._get_file_value`, `_normalize_group_name`):
 * - each line is `rstrip()`ped; an empty line ends a multi-line value;
 * - a line starting with a space or tab CONTINUES the previous value (joined with "\n"); with no
 *   value pending it is an error ("Unexpected continuation line"), even if it looks like a comment;
 * - `[name]` opens a section; `#` or `;` in column 1 is a comment; there are no inline comments,
 *   so `key = a # b` has the value "a # b";
 * - `key = value` and `key: value`, whichever separator comes first; the value is stripped and one
 *   pair of matching surrounding quotes is removed; an empty key is an error;
 * - an assignment before any section is an error ("Section must be started before assignment");
 * - repeated sections merge; a repeated key keeps every value, and nova uses the LAST one for a
 *   normal option (`values[-1]`) or all of them for a MultiStrOpt;
 * - section names are case-insensitive (lower-cased), EXCEPT `DEFAULT`, which must be written
 *   exactly so: `[LIBVIRT]` is `[libvirt]`, but `[default]` is not `[DEFAULT]`
 *   (`_normalize_group_name`: `if group_name == 'DEFAULT': return group_name; return group_name.lower()`);
 * - option names are case-sensitive;
 * - the file is opened as text with no BOM handling, so a UTF-8 byte-order mark makes line 1 invalid.
 */

/** One physical line, with its own line ending (files may mix CRLF and LF; each line keeps its own). */
export interface DocLine {
  /** 1-based line number. */
  number: number;
  /** The text without its line ending. */
  text: string;
  /** "\r\n", "\n", "\r", or "" for a last line without a final newline. */
  eol: string;
  kind: "blank" | "comment" | "section" | "option" | "continuation";
  /** Index (into {@link NovaConfDocument.sections}) of the section this line belongs to, -1 before any. */
  sectionIndex: number;
  /** For a comment like `#cpu_mode = <None>` or `#cpu_mode=host-passthrough`: the commented option. */
  commented?: { key: string; value: string };
}

/** One `[name]` block. A file may hold the same section several times; oslo merges them. */
export interface SectionBlock {
  /** The name as written between the brackets. */
  name: string;
  /** The name oslo.config looks options up under (see {@link normalizeGroup}). */
  group: string;
  /** 0-based index of the header line. */
  headerIndex: number;
  /** 0-based index one past the block's last line (the next header, or the end of the file). */
  endIndex: number;
}

/** One assignment, possibly spanning continuation lines. */
export interface Assignment {
  /** Index into {@link NovaConfDocument.sections}. */
  sectionIndex: number;
  /** Normalized section name. */
  group: string;
  key: string;
  /** The value as oslo.config hands it to the option type (stripped, quotes removed, lines joined). */
  value: string;
  /** 0-based index of the `key = value` line. */
  lineIndex: number;
  /** 0-based index one past the last continuation line. */
  endIndex: number;
}

export interface NovaConfDocument {
  path: string;
  lines: DocLine[];
  sections: SectionBlock[];
  assignments: Assignment[];
  /** The line ending new lines get: the one most lines already use (LF for an empty file). */
  eol: "\r\n" | "\n";
}

// Python's str.strip()/rstrip() whitespace; JavaScript's trim() differs (it strips U+FEFF, which
// Python keeps, and that decides whether a BOM breaks the file).
const PY_WS_RE = /[ \t\n\r\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

function isPyWhitespace(c: string): boolean {
  return PY_WS_RE.test(c);
}

// Character loops, not `\s+$`: a regex anchored only at the end retries from every blank of a long
// run, which is quadratic (a line of 40 000 spaces and one letter took 4 s).
/** Python's `str.rstrip()`. */
export function pyRstrip(s: string): string {
  let end = s.length;
  while (end > 0 && isPyWhitespace(s[end - 1]!)) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** Python's `str.lstrip()`. */
export function pyLstrip(s: string): string {
  let start = 0;
  while (start < s.length && isPyWhitespace(s[start]!)) start++;
  return start === 0 ? s : s.slice(start);
}

/** Python's `str.strip()`. */
export function pyStrip(s: string): string {
  return pyLstrip(pyRstrip(s));
}

/** The group name oslo.config files a section under: lower-case, except "DEFAULT" exactly. */
export function normalizeGroup(section: string): string {
  return section === "DEFAULT" ? section : section.toLowerCase();
}

// oslo-config-generator writes defaults as `#key = value`; hand-edited files often have `#key=value`.
// The key must touch the `#` so that prose comments ("# Possible values: a = b") do not match.
const COMMENTED_OPTION_RE = /^[#;]([A-Za-z_][A-Za-z0-9_-]*)\s*=(.*)$/;

/** Splits text into lines with their own endings. Python's text mode treats a lone "\r" as a newline too. */
function splitLines(text: string): { text: string; eol: string }[] {
  const out: { text: string; eol: string }[] = [];
  const re = /\r\n|\n|\r/g;
  let start = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push({ text: text.slice(start, m.index), eol: m[0] });
    start = m.index + m[0].length;
  }
  if (start < text.length) out.push({ text: text.slice(start), eol: "" });
  return out;
}

/** oslo's `_split_key_value`: the first of ':' or '=' separates; returns the key and the raw value. */
export function splitKeyValue(line: string): { key: string; value: string } | null {
  const colon = line.indexOf(":");
  const equal = line.indexOf("=");
  if (colon < 0 && equal < 0) return null;
  const at = colon < 0 || (equal >= 0 && equal < colon) ? equal : colon;
  return { key: pyStrip(line.slice(0, at)), value: line.slice(at + 1) };
}

/** oslo's value clean-up: strip, then drop one pair of matching surrounding quotes. */
export function cleanValue(raw: string): string {
  const value = pyStrip(raw);
  if (value.length > 0 && value[0] === value[value.length - 1] && (value[0] === '"' || value[0] === "'")) {
    return value.slice(1, -1);
  }
  return value;
}

// What to do about each of oslo.config's parse errors (iniparser.py's own words are the keys).
const PARSE_ERROR_HINTS: Record<string, string> = {
  "Unexpected continuation line":
    "a line starting with a space or tab continues the value above it, and there is none (a blank line, comment or section header comes before it): remove the indentation, or join it to its value",
  "Invalid section (must end with ])": "a line starting with '[' must be a whole [section] header",
  "Empty section name": "write the section's name between the brackets",
  "No ':' or '=' found in assignment":
    "every line that is not blank, a comment (# or ; in column 1) or a [section] must be key = value",
  "Key cannot be empty": "write the option's name before the '=' or ':'",
  "Section must be started before assignment": "put the option under a [section] header, e.g. [DEFAULT]",
};

/**
 * A parse error names the file, the line and oslo.config's reason, and never quotes the line: a
 * line that does not parse may hold a secret (a password pasted on its own, a wrapped value), and
 * this message reaches Slack, the audit stream and logs. The operator opens the file at that line.
 */
function parseError(path: string, lineNumber: number, line: string, reason: string): NovaConfError {
  const bomHint =
    lineNumber === 1 && line.startsWith("\uFEFF")
      ? " The file starts with a UTF-8 byte-order mark, which oslo.config does not skip: save it without the BOM."
      : "";
  const hint = PARSE_ERROR_HINTS[reason];
  return new NovaConfError(
    "NOVA_CONF_PARSE",
    `${path}:${lineNumber}: ${reason}${hint ? ` (${hint})` : ""}. nova-compute (oslo.config) would refuse to start with this file; fix that line first (it is not quoted here, as it may hold a secret).${bomHint}`,
    { path, line: lineNumber },
    reason,
  );
}

/** Parses a nova.conf-style file exactly as oslo.config does; throws NOVA_CONF_PARSE naming file and line. */
export function parseNovaConf(text: string, path = "nova.conf"): NovaConfDocument {
  const raw = splitLines(text);
  const lines: DocLine[] = [];
  const sections: SectionBlock[] = [];
  const assignments: Assignment[] = [];
  let pending: Assignment | null = null;
  let pendingValue: string[] = [];
  let crlf = 0;
  let lf = 0;

  const flush = (): void => {
    if (!pending) return;
    pending.value = pendingValue.join("\n");
    assignments.push(pending);
    pending = null;
    pendingValue = [];
  };

  for (let i = 0; i < raw.length; i++) {
    const { text: lineText, eol } = raw[i]!;
    if (eol === "\r\n") crlf++;
    else if (eol === "\n") lf++;
    const number = i + 1;
    const sectionIndex = sections.length - 1;
    const line = pyRstrip(lineText);
    if (line === "") {
      flush();
      lines.push({ number, text: lineText, eol, kind: "blank", sectionIndex });
      continue;
    }
    if (line.startsWith(" ") || line.startsWith("\t")) {
      if (!pending) throw parseError(path, number, lineText, "Unexpected continuation line");
      pendingValue.push(pyLstrip(line));
      (pending as Assignment).endIndex = i + 1;
      lines.push({ number, text: lineText, eol, kind: "continuation", sectionIndex });
      continue;
    }
    flush();
    if (line.startsWith("[")) {
      if (!line.endsWith("]")) throw parseError(path, number, lineText, "Invalid section (must end with ])");
      if (line.length <= 2) throw parseError(path, number, lineText, "Empty section name");
      const name = line.slice(1, -1);
      if (sections.length > 0) sections[sections.length - 1]!.endIndex = i;
      sections.push({ name, group: normalizeGroup(name), headerIndex: i, endIndex: raw.length });
      lines.push({ number, text: lineText, eol, kind: "section", sectionIndex: sections.length - 1 });
      continue;
    }
    if (line.startsWith("#") || line.startsWith(";")) {
      const m = COMMENTED_OPTION_RE.exec(line);
      const commented = m ? { key: m[1]!, value: cleanValue(m[2]!) } : undefined;
      lines.push({
        number,
        text: lineText,
        eol,
        kind: "comment",
        sectionIndex,
        ...(commented ? { commented } : {}),
      });
      continue;
    }
    const kv = splitKeyValue(line);
    if (!kv) throw parseError(path, number, lineText, "No ':' or '=' found in assignment");
    if (kv.key === "") throw parseError(path, number, lineText, "Key cannot be empty");
    if (sectionIndex < 0)
      throw parseError(path, number, lineText, "Section must be started before assignment");
    pending = {
      sectionIndex,
      group: sections[sectionIndex]!.group,
      key: kv.key,
      value: "",
      lineIndex: i,
      endIndex: i + 1,
    };
    pendingValue = [cleanValue(kv.value)];
    lines.push({ number, text: lineText, eol, kind: "option", sectionIndex });
  }
  flush();
  return { path, lines, sections, assignments, eol: crlf > lf ? "\r\n" : "\n" };
}

/** The file's text again, byte for byte. */
export function serializeNovaConf(doc: NovaConfDocument): string {
  return doc.lines.map((l) => l.text + l.eol).join("");
}

/** Every assignment of `key` in `section` (case rules as oslo), in file order; nova uses the last. */
export function assignmentsOf(doc: NovaConfDocument, section: string, key: string): Assignment[] {
  const group = normalizeGroup(section);
  return doc.assignments.filter((a) => a.group === group && a.key === key);
}

/** The value nova would read for a single-valued option from this one file, or undefined. */
export function lastAssignment(doc: NovaConfDocument, section: string, key: string): Assignment | undefined {
  const all = assignmentsOf(doc, section, key);
  return all[all.length - 1];
}

/** The blocks oslo files under `section` (several when the header repeats). */
export function sectionBlocks(doc: NovaConfDocument, section: string): SectionBlock[] {
  const group = normalizeGroup(section);
  return doc.sections.filter((s) => s.group === group);
}
