/**
 * A compute host's in-memory filesystem: just enough of POSIX for the catalogue's file commands
 * (cat, stat, dd, cp -p, mv, rm, tail), with coreutils' own error texts.
 */

export interface FileEntry {
  content: string;
  owner: string;
  group: string;
  /** Permission bits, e.g. 0o640. */
  mode: number;
}

/** What a command prints and returns, as the SSH server expects. */
export interface FsResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Largest log file kept; past it the oldest half is dropped, as logrotate would. */
export const MAX_LOG_FILE_BYTES = 4 * 1024 * 1024;

const ok = (stdout = ""): FsResult => ({ stdout, stderr: "", exitCode: 0 });
const fail = (stderr: string): FsResult => ({ stdout: "", stderr: `${stderr}\n`, exitCode: 1 });

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

export class HostFilesystem {
  private readonly files = new Map<string, FileEntry>();
  private readonly dirs = new Set<string>(["/"]);

  /** Creates a file (and its folders) as the host's installer would have. */
  put(path: string, content: string, owner = "root", group = "root", mode = 0o644): void {
    this.mkdirs(parentOf(path));
    this.files.set(path, { content, owner, group, mode });
  }

  mkdirs(path: string): void {
    let p = path;
    while (p !== "/" && !this.dirs.has(p)) {
      this.dirs.add(p);
      p = parentOf(p);
    }
  }

  get(path: string): FileEntry | undefined {
    return this.files.get(path);
  }

  exists(path: string): boolean {
    return this.files.has(path);
  }

  /** Appends to a file (the nova-compute log), keeping it bounded. */
  append(path: string, text: string): void {
    const entry = this.files.get(path);
    if (entry === undefined) {
      this.put(path, text);
      return;
    }
    entry.content += text;
    if (entry.content.length > MAX_LOG_FILE_BYTES) {
      const cut = entry.content.indexOf("\n", entry.content.length - MAX_LOG_FILE_BYTES / 2);
      entry.content = entry.content.slice(cut + 1);
    }
  }

  cat(path: string): FsResult {
    if (this.dirs.has(path)) return fail(`cat: ${path}: Is a directory`);
    const f = this.files.get(path);
    return f ? ok(f.content) : fail(`cat: ${path}: No such file or directory`);
  }

  stat(path: string): FsResult {
    const f = this.files.get(path);
    if (!f) return fail(`stat: cannot statx '${path}': No such file or directory`);
    return ok(`${f.mode.toString(8)} ${f.owner} ${f.group} ${Buffer.byteLength(f.content)}\n`);
  }

  /** `dd conv=nocreat of=<path>`: replaces an existing file's content, keeping its owner and mode. */
  write(path: string, content: string): FsResult {
    const existing = this.files.get(path);
    if (!existing) return fail(`dd: failed to open '${path}': No such file or directory`);
    existing.content = content;
    return ok();
  }

  copyPreserving(from: string, to: string): FsResult {
    const f = this.files.get(from);
    if (!f) return fail(`cp: cannot stat '${from}': No such file or directory`);
    if (!this.dirs.has(parentOf(to)))
      return fail(`cp: cannot create regular file '${to}': No such file or directory`);
    this.files.set(to, { ...f });
    return ok();
  }

  rename(from: string, to: string): FsResult {
    const f = this.files.get(from);
    if (!f) return fail(`mv: cannot stat '${from}': No such file or directory`);
    if (!this.dirs.has(parentOf(to)))
      return fail(`mv: cannot move '${from}' to '${to}': No such file or directory`);
    this.files.delete(from);
    this.files.set(to, f);
    return ok();
  }

  remove(path: string): FsResult {
    this.files.delete(path);
    return ok();
  }

  tail(path: string, lines: number): FsResult {
    const f = this.files.get(path);
    if (!f) return fail(`tail: cannot open '${path}' for reading: No such file or directory`);
    const all = f.content.split("\n");
    if (all[all.length - 1] === "") all.pop();
    const last = all.slice(Math.max(0, all.length - lines));
    return ok(last.length > 0 ? `${last.join("\n")}\n` : "");
  }

  /** Paths of all files, for tests and the CLI. */
  list(): string[] {
    return [...this.files.keys()].sort();
  }
}
