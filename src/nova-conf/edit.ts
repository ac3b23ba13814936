import { decode } from "ini";
import {
  assignmentsOf,
  lastAssignment,
  type NovaConfDocument,
  normalizeGroup,
  parseNovaConf,
  sectionBlocks,
  serializeNovaConf,
  splitKeyValue,
} from "./document";
import { NovaConfError } from "./errors";
import { redactConfLines, shownValue } from "./redact";

/**
 * Minimal text edits of nova.conf: only the lines of the option being set change; comments, order,
 * blank lines, line endings (CRLF stays CRLF) and a missing final newline are kept; applying the
 * same edit twice changes nothing. After every edit the `ini` package parses the text before and
 * after, and the edit is refused (NOVA_CONF_EDIT_UNSAFE) unless exactly the intended keys changed:
 * a second, independent parser agreeing is the proof that nothing else moved.
 */

/** One intended change: `value` undefined means the key must be gone afterwards. */
export interface IntendedChange {
  section: string;
  key: string;
  value?: string;
}

interface Line {
  text: string;
  eol: string;
}

function linesOf(doc: NovaConfDocument): Line[] {
  return doc.lines.map((l) => ({ text: l.text, eol: l.eol }));
}

function rebuild(doc: NovaConfDocument, lines: Line[]): NovaConfDocument {
  return parseNovaConf(lines.map((l) => l.text + l.eol).join(""), doc.path);
}

/** `key = value` or `key=value`, whichever the file mostly uses already. */
function assignmentStyle(doc: NovaConfDocument): string {
  let spaced = 0;
  let tight = 0;
  for (const a of doc.assignments) {
    const text = doc.lines[a.lineIndex]!.text;
    if (/^[^=:\s]+\s+[=:]\s/.test(text)) spaced++;
    else if (/^[^=:\s]+[=:]\S/.test(text)) tight++;
  }
  return tight > spaced ? "=" : " = ";
}

/** Rewrites an assignment line's value, keeping its key, separator, spacing and quoting. */
function rewriteValue(text: string, value: string, newKey?: string): string {
  const kv = splitKeyValue(text)!;
  const sepAt = text.length - kv.value.length - 1;
  const keyPart = newKey === undefined ? text.slice(0, sepAt) : text.slice(0, sepAt).replace(kv.key, newKey);
  const spaceAfter = /^[ \t]*/.exec(kv.value)![0];
  const old = kv.value.trim();
  const quote =
    old.length > 1 && old[0] === old[old.length - 1] && (old[0] === '"' || old[0] === "'") ? old[0] : "";
  return `${keyPart}${text[sepAt]}${spaceAfter}${quote}${value}${quote}`;
}

/** Ensures the line before an insertion point ends with a newline; returns the eol the new last line gets. */
function openEnd(lines: Line[], at: number, eol: string): string {
  if (at === lines.length && at > 0 && lines[at - 1]!.eol === "") {
    lines[at - 1]!.eol = eol;
    return ""; // keep the file's "no final newline"
  }
  return eol;
}

function applyUnproven(doc: NovaConfDocument, section: string, key: string, value: string): NovaConfDocument {
  const lines = linesOf(doc);
  const current = lastAssignment(doc, section, key);
  if (current) {
    const single = current.endIndex - current.lineIndex === 1;
    if (current.value === value && single) return doc;
    lines[current.lineIndex] = {
      ...lines[current.lineIndex]!,
      text: rewriteValue(lines[current.lineIndex]!.text, value),
    };
    // The old continuation lines were part of the old value.
    lines.splice(current.lineIndex + 1, current.endIndex - current.lineIndex - 1);
    return rebuild(doc, lines);
  }
  const blocks = sectionBlocks(doc, section);
  for (const block of blocks) {
    for (let i = block.headerIndex + 1; i < block.endIndex; i++) {
      const c = doc.lines[i]!.commented;
      if (c && c.key === key) {
        // Uncomment the generator's default right where it is documented.
        const sep = /^[#;][^=]*\s=/.test(doc.lines[i]!.text) ? " = " : "=";
        lines[i] = { ...lines[i]!, text: `${key}${sep}${value}` };
        return rebuild(doc, lines);
      }
    }
  }
  const style = assignmentStyle(doc);
  const block = blocks[0];
  if (block) {
    let at = block.endIndex;
    while (at > block.headerIndex + 1 && doc.lines[at - 1]!.kind === "blank") at--;
    const eol = openEnd(lines, at, doc.eol);
    lines.splice(at, 0, { text: `${key}${style}${value}`, eol });
    return rebuild(doc, lines);
  }
  const at = lines.length;
  const eol = openEnd(lines, at, doc.eol);
  const added: Line[] = [];
  if (lines.length > 0 && lines[lines.length - 1]!.text.trim() !== "") added.push({ text: "", eol: doc.eol });
  added.push({ text: `[${section}]`, eol: doc.eol }, { text: `${key}${style}${value}`, eol });
  lines.push(...added);
  return rebuild(doc, lines);
}

/** Sets `[section] key = value`: in place if set, else over its commented default, else in (or with) the section. */
export function setOption(
  doc: NovaConfDocument,
  section: string,
  key: string,
  value: string,
): NovaConfDocument {
  checkValue(doc, section, key, value);
  const after = applyUnproven(doc, section, key, value);
  proveOnlyKeysChanged(doc, after, [{ section, key, value }]);
  return after;
}

/**
 * Adds `item` to a comma-separated option (Mitaka's `live_migration_flag`), starting from the
 * value in this file or, when the file does not set it, from `defaultValue`; never adds it twice.
 */
export function appendToListOption(
  doc: NovaConfDocument,
  section: string,
  key: string,
  item: string,
  defaultValue: string,
): NovaConfDocument {
  const current = lastAssignment(doc, section, key);
  const base = current ? current.value.replace(/\n/g, " ") : defaultValue;
  const items = base
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (items.includes(item)) return doc;
  const sep = base.includes(",") && !base.includes(", ") ? "," : ", ";
  const trimmed = base.trim().replace(/,\s*$/, "");
  const value = trimmed === "" ? item : `${trimmed}${sep}${item}`;
  return setOption(doc, section, key, value);
}

/** Removes every assignment of `[section] key` (with its continuation lines); comments stay. */
export function removeOption(doc: NovaConfDocument, section: string, key: string): NovaConfDocument {
  const found = assignmentsOf(doc, section, key);
  if (found.length === 0) return doc;
  const lines = linesOf(doc);
  for (const a of [...found].reverse()) lines.splice(a.lineIndex, a.endIndex - a.lineIndex);
  // Removing the last line of a file without a final newline must not add one to the new last line.
  if (doc.lines[doc.lines.length - 1]!.eol === "" && lines.length > 0) lines[lines.length - 1]!.eol = "";
  const after = rebuild(doc, lines);
  proveOnlyKeysChanged(doc, after, [{ section, key }]);
  return after;
}

/**
 * Renames an option in place (`cpu_model = x` → `cpu_models = y` on the same line), removing any
 * other assignments of the old name in that section. Used when an option's name changed between
 * releases and the operator's line should stay where they put it.
 */
export function renameOption(
  doc: NovaConfDocument,
  section: string,
  from: string,
  to: string,
  value: string,
): NovaConfDocument {
  checkValue(doc, section, to, value);
  const olds = assignmentsOf(doc, section, from);
  const last = olds[olds.length - 1];
  if (!last || lastAssignment(doc, section, to)) {
    throw new NovaConfError(
      "NOVA_CONF_UNSUPPORTED",
      `${doc.path}: cannot rename [${section}] ${from} to ${to}: ${last ? `${to} is already set` : `${from} is not set`}. Use setOption and removeOption instead.`,
    );
  }
  const lines = linesOf(doc);
  lines[last.lineIndex] = {
    ...lines[last.lineIndex]!,
    text: rewriteValue(lines[last.lineIndex]!.text, value, to),
  };
  for (const a of [...olds].reverse()) {
    if (a === last) lines.splice(a.lineIndex + 1, a.endIndex - a.lineIndex - 1);
    else lines.splice(a.lineIndex, a.endIndex - a.lineIndex);
  }
  const after = rebuild(doc, lines);
  proveOnlyKeysChanged(doc, after, [
    { section, key: from },
    { section, key: to, value },
  ]);
  return after;
}

// A value is written on one line; a newline or a leading/trailing blank would change what oslo reads.
function checkValue(doc: NovaConfDocument, section: string, key: string, value: string): void {
  if (/[\r\n]/.test(value) || value !== value.trim() || /[\r\n[\]=:#;\s]/.test(key) || key === "") {
    throw new NovaConfError(
      "NOVA_CONF_UNSUPPORTED",
      `${doc.path}: migbot only writes one-line values to plain option names; refusing [${section}] ${JSON.stringify(key)} = ${JSON.stringify(shownValue(key, value))}.`,
    );
  }
}

type Flat = Map<string, string>;

// ini nests dotted section names ([a.b] → a: { b: … }); flattening to paths compares any shape.
function flatten(obj: Record<string, unknown>, prefix: string[], out: Flat): Flat {
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v))
      flatten(v as Record<string, unknown>, [...prefix, k], out);
    else out.set(JSON.stringify([...prefix, k]), JSON.stringify(v));
  }
  return out;
}

function iniView(text: string): Flat {
  return flatten(decode(text) as Record<string, unknown>, [], new Map());
}

/** What `ini` makes of `key = value`, so the intended value is compared in ini's own terms. */
function iniValueOf(key: string, value: string): string | undefined {
  return iniView(`[s]\n${key} = ${value}\n`).get(JSON.stringify(["s", key]));
}

function matchesIntended(path: string, intended: IntendedChange[]): IntendedChange | undefined {
  const parts = JSON.parse(path) as string[];
  if (parts.length !== 2) return undefined;
  return intended.find((c) => normalizeGroup(parts[0]!) === normalizeGroup(c.section) && parts[1] === c.key);
}

/**
 * ini does not know oslo's continuation lines and reads an indented `  VIR_MIGRATE_LIVE` as a key of
 * its own. Those lines belong to an intended key's old value, so they may disappear with it.
 */
function continuationKeys(doc: NovaConfDocument, intended: IntendedChange[]): Set<string> {
  const out = new Set<string>();
  for (const change of intended) {
    for (const a of assignmentsOf(doc, change.section, change.key)) {
      const section = doc.sections[a.sectionIndex]!.name;
      for (let i = a.lineIndex + 1; i < a.endIndex; i++) {
        for (const k of iniView(`[${section}]\n${doc.lines[i]!.text.trim()}\n`).keys()) out.add(k);
      }
    }
  }
  return out;
}

/**
 * The `ini` keys that may be named in a message: real oslo.config assignments with a plain name.
 * `ini` also makes keys of what oslo reads as parts of values (a continuation line, the whole of a
 * `password: secret` line, since `ini` knows no ':'), and those can be pieces of a secret.
 */
function nameableKeys(docs: NovaConfDocument[]): Set<string> {
  const real = new Set<string>();
  const fragments = new Set<string>();
  for (const doc of docs) {
    for (const a of doc.assignments) {
      const section = doc.sections[a.sectionIndex]!.name;
      if (/^[A-Za-z0-9_.-]+$/.test(a.key)) real.add(JSON.stringify([section, a.key]));
      for (let i = a.lineIndex + 1; i < a.endIndex; i++) {
        for (const k of iniView(`[${section}]\n${doc.lines[i]!.text.trim()}\n`).keys()) fragments.add(k);
      }
    }
  }
  for (const k of fragments) real.delete(k);
  return real;
}

/**
 * Parses both texts with `ini` and throws NOVA_CONF_EDIT_UNSAFE unless the only differences are the
 * intended keys, each now holding its intended value (or gone, when the value is undefined).
 */
export function proveOnlyKeysChanged(
  before: NovaConfDocument | string,
  after: NovaConfDocument | string,
  intended: IntendedChange[],
  path = typeof before === "string" ? "nova.conf" : before.path,
): void {
  const beforeDoc = typeof before === "string" ? parseNovaConf(before, path) : before;
  const afterDoc = typeof after === "string" ? parseNovaConf(after, path) : after;
  const b = iniView(serializeNovaConf(beforeDoc));
  const a = iniView(serializeNovaConf(afterDoc));
  const vanishing = continuationKeys(beforeDoc, intended);
  const nameable = nameableKeys([beforeDoc, afterDoc]);
  const problems: string[] = [];
  for (const key of new Set([...b.keys(), ...a.keys()])) {
    const change = matchesIntended(key, intended);
    if (change) continue;
    if (a.get(key) === undefined && vanishing.has(key)) continue;
    if (b.get(key) !== a.get(key)) {
      const parts = JSON.parse(key) as string[];
      const name = parts[parts.length - 1]!;
      const show = (v: string | undefined) => (v === undefined ? "(unset)" : shownValue(name, v));
      problems.push(
        nameable.has(key)
          ? `${parts.join(" ")}: ${show(b.get(key))} → ${show(a.get(key))}`
          : "a line that is not a plain option (not quoted: it may hold a secret)",
      );
    }
  }
  for (const change of intended) {
    const hits = [...a.entries()].filter(([k]) => matchesIntended(k, [change]) === change);
    if (change.value === undefined) {
      if (hits.length > 0) problems.push(`[${change.section}] ${change.key} is still set`);
    } else {
      const wanted = iniValueOf(change.key, change.value);
      if (!hits.some(([, v]) => v === wanted)) {
        problems.push(
          `[${change.section}] ${change.key} is not ${JSON.stringify(shownValue(change.key, change.value))} afterwards`,
        );
      }
    }
  }
  if (problems.length > 0) {
    throw new NovaConfError(
      "NOVA_CONF_EDIT_UNSAFE",
      `${path}: the edit would change more than intended (${[...new Set(problems)].slice(0, 5).join("; ")}). Nothing was written; edit this file by hand and report it as a migbot bug.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Unified diff

/** Lines of context around each change, as `diff -u`. */
export const DIFF_CONTEXT_LINES = 3;

function diffLines(text: string): string[] {
  const out: string[] = [];
  const re = /\r\n|\n|\r/g;
  let start = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push(text.slice(start, m.index + m[0].length));
    start = m.index + m[0].length;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

type Op = { kind: " " | "-" | "+"; line: string };

/** Beyond this many changed lines the diff falls back to "all old lines out, all new lines in". */
export const MAX_DIFF_EDIT_DISTANCE = 2000;

/** Myers' O((N+M)·D) shortest edit script; nova.conf edits are a few lines in files of thousands. */
function myers(a: string[], b: string[]): Op[] {
  // Common head and tail first: the search below then only sees the changed middle.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  )
    tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const same = (lines: string[]): Op[] => lines.map((line) => ({ kind: " ", line }));
  return [...same(a.slice(0, head)), ...myersMiddle(am, bm), ...same(a.slice(a.length - tail))];
}

function myersMiddle(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, MAX_DIFF_EDIT_DISTANCE);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!)
          ? v[offset + k + 1]!
          : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, a, b, offset);
    }
  }
  return [...a.map((line): Op => ({ kind: "-", line })), ...b.map((line): Op => ({ kind: "+", line }))];
}

function backtrack(trace: Int32Array[], a: string[], b: string[], offset: number): Op[] {
  const ops: Op[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = trace.length - 1; d >= 0; d--) {
    const v = trace[d]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!) ? k + 1 : k - 1;
    const prevX = v[offset + prevK]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      ops.push({ kind: " ", line: a[x]! });
    }
    if (d > 0) {
      if (x === prevX) ops.push({ kind: "+", line: b[prevY]! });
      else ops.push({ kind: "-", line: a[prevX]! });
    }
    x = prevX;
    y = prevY;
  }
  return ops.reverse();
}

function range(start: number, count: number): string {
  if (count === 1) return `${start}`;
  return `${count === 0 ? start - 1 : start},${count}`;
}

function show(op: Op, text: string): string {
  const hasEol = /\r?\n$|\r$/.test(op.line);
  return `${op.kind}${text.replace(/\r?\n$|\r$/, "")}\n${hasEol ? "" : "\\ No newline at end of file\n"}`;
}

/** Each op's line as shown: ops are in file order, so counters find the line in either file. */
function shownLines(ops: Op[], a: string[], b: string[]): string[] {
  let ia = 0;
  let ib = 0;
  return ops.map((op) => {
    const line = op.kind === "+" ? b[ib]! : a[ia]!;
    if (op.kind !== "+") ia++;
    if (op.kind !== "-") ib++;
    return line;
  });
}

/**
 * A `diff -u` style unified diff (`--- a/…`, `+++ b/…`, 3 lines of context); "" when equal. With
 * `redactSecrets` every line is shown masked as in its whole file (see redact.ts), so a change to a
 * secret still shows as a changed line, and context lines are masked knowing what they continue.
 */
export function unifiedDiff(
  path: string,
  before: string,
  after: string,
  opts: { redactSecrets?: boolean } = {},
): string {
  if (before === after) return "";
  const beforeLines = diffLines(before);
  const afterLines = diffLines(after);
  const ops = myers(beforeLines, afterLines);
  const texts = opts.redactSecrets
    ? shownLines(ops, redactConfLines(beforeLines), redactConfLines(afterLines))
    : ops.map((op) => op.line);
  const name = path.replace(/^\/+/, "");
  let out = `--- a/${name}\n+++ b/${name}\n`;
  let i = 0;
  while (i < ops.length) {
    if (ops[i]!.kind === " ") {
      i++;
      continue;
    }
    // A hunk: from DIFF_CONTEXT_LINES before this change to DIFF_CONTEXT_LINES after the last change
    // that is within 2 × context of the previous one (as diff -u merges nearby changes).
    let start = i;
    for (let c = 0; c < DIFF_CONTEXT_LINES && start > 0 && ops[start - 1]!.kind === " "; c++) start--;
    let end = i;
    for (;;) {
      while (end < ops.length && ops[end]!.kind !== " ") end++;
      let gap = 0;
      while (end + gap < ops.length && ops[end + gap]!.kind === " ") gap++;
      if (end + gap < ops.length && gap <= 2 * DIFF_CONTEXT_LINES) end += gap;
      else {
        end += Math.min(gap, DIFF_CONTEXT_LINES);
        break;
      }
    }
    let oldStart = 1;
    let newStart = 1;
    for (let j = 0; j < start; j++) {
      if (ops[j]!.kind !== "+") oldStart++;
      if (ops[j]!.kind !== "-") newStart++;
    }
    const hunk = ops.slice(start, end);
    const oldCount = hunk.filter((o) => o.kind !== "+").length;
    const newCount = hunk.filter((o) => o.kind !== "-").length;
    out += `@@ -${range(oldStart, oldCount)} +${range(newStart, newCount)} @@\n`;
    for (let j = start; j < end; j++) out += show(ops[j]!, texts[j]!);
    i = end;
  }
  return out;
}
