/**
 * The fixed catalogue of commands migbot runs on compute hosts.
 *
 * Nothing else is ever executed: callers build a typed {@link HostCommand}, every argument is
 * validated against a strict pattern, and {@link renderCommand} quotes it for a POSIX shell (what
 * OpenSSH's exec hands the line to). The sandbox's hosts use {@link parseCommandLine} to answer the
 * same lines, and anything outside the catalogue gets `command not found`.
 */
import { CodedError } from "../errors";
import { DIRTYRATE_CALC_MAX_SECONDS } from "../nova-facts/libvirt-dirtyrate";

/** Services migbot may ask systemd about. */
export const ALLOWED_SERVICES = ["nova-compute", "openstack-nova-compute", "libvirtd"] as const;
export type ServiceName = (typeof ALLOWED_SERVICES)[number];
/** Services migbot may restart: nova-compute under its Debian/Ubuntu or RDO unit name, never libvirtd. */
export const RESTARTABLE_SERVICES = [
  "nova-compute",
  "openstack-nova-compute",
] as const satisfies readonly ServiceName[];

/** Largest `tail -n` migbot asks for. */
export const MAX_LOG_LINES = 5000;

export type HostCommand =
  /** `virsh domjobinfo [--completed] <domain>`: the live (or last completed) migration job. */
  | { kind: "virsh-domjobinfo"; domain: string; completed?: boolean }
  /** `virsh capabilities`: the host CPU (model, vendor, features) among others. */
  | { kind: "virsh-capabilities" }
  /** `virsh cpu-compare --error /dev/stdin`: is the CPU XML on stdin runnable on this host? */
  | { kind: "virsh-cpu-compare"; cpuXml: string }
  /** `virsh cpu-baseline /dev/stdin`: the common model of the CPU XMLs on stdin. */
  | { kind: "virsh-cpu-baseline"; cpusXml: string }
  /**
   * `virsh domcapabilities`: what the hypervisor offers guests, among others the host-model CPU that
   * `hypervisor-cpu-compare` judges against (libvirt's defaults for emulator, arch, machine and virt
   * type, as Nova 27.0.0+ leaves them).
   */
  | { kind: "virsh-domcapabilities" }
  /**
   * `virsh hypervisor-cpu-compare --error /dev/stdin`: can the hypervisor give a guest the CPU XML on
   * stdin? Nova's pre-check and start-up check from 2023.1 (compareHypervisorCPU).
   */
  | { kind: "virsh-hypervisor-cpu-compare"; cpuXml: string }
  /** `virsh hypervisor-cpu-baseline /dev/stdin`: the common model of the CPU XMLs on stdin that this hypervisor can run. */
  | { kind: "virsh-hypervisor-cpu-baseline"; cpusXml: string }
  /** `virsh list --all`: the domains defined on the host and their state. */
  | { kind: "virsh-list" }
  /** `virsh version`: the libvirt library (dirty-rate measurement needs 7.2.0) and the hypervisor. */
  | { kind: "virsh-version" }
  /**
   * `virsh domdirtyrate-calc <domain> --seconds <n>`: start measuring the guest's memory dirty rate
   * (libvirt 7.2+, page-sampling: reads guest memory, changes nothing). 1 to 60 s.
   */
  | { kind: "virsh-domdirtyrate-calc"; domain: string; seconds: number }
  /** `virsh domstats --dirtyrate <domain>`: the last dirty-rate measurement. */
  | { kind: "virsh-domstats-dirtyrate"; domain: string }
  /** `ip -o route get <address>`: the interface the host reaches an address through (the migration network). */
  | { kind: "ip-route-get"; address: string }
  /** `cat -- /sys/class/net/<interface>/speed`: the NIC's link speed, Mbit/s. */
  | { kind: "read-nic-speed"; iface: string }
  /** `cat -- <file>`: read a config file (nova.conf and friends). */
  | { kind: "read-file"; path: string }
  /** `stat -c '%a %U %G %s' -- <file>`: mode, owner, group, size. */
  | { kind: "stat-file"; path: string }
  /**
   * `dd status=none conv=nocreat,fsync oflag=nofollow of=<temp>` with the content on stdin: replaces
   * the content of a temp file that `copy-file` made, so it keeps that file's owner and mode (dd
   * truncates an existing file and never changes its mode). It never creates a file (which would get
   * the umask's world-readable mode) and never writes through a symlink.
   */
  | { kind: "write-file"; path: string; content: string }
  /**
   * `cp -p -T --remove-destination -- <from> <to>`: back up a config file, make the temp copy that
   * `write-file` fills, or restore a backup, keeping owner and mode. The destination is unlinked and
   * created afresh (O_EXCL), never written through a symlink or into a directory planted there.
   */
  | { kind: "copy-file"; from: string; to: string }
  /** `mv -f -T -- <temp> <to>`: atomic rename within one folder, replacing `<to>` itself. */
  | { kind: "rename-file"; from: string; to: string }
  /** `rm -f -- <file>`: remove a temp file migbot wrote. Only migbot's own temp names are allowed. */
  | { kind: "remove-temp-file"; path: string }
  /** `systemctl is-active <service>` */
  | { kind: "systemctl-is-active"; service: ServiceName }
  /** `systemctl restart <service>`: only {@link RESTARTABLE_SERVICES}. */
  | { kind: "systemctl-restart"; service: ServiceName }
  /** `nova-compute --version`: the release, e.g. `13.1.4` (Mitaka) or `26.2.2` (Zed). */
  | { kind: "nova-compute-version" }
  /** `tail -n <lines> -- <log>`: the end of the nova-compute log. */
  | { kind: "tail-log"; path: string; lines: number };

export type HostCommandKind = HostCommand["kind"];

/** A command ready to send: the shell line and what to write to its stdin. */
export interface RenderedCommand {
  line: string;
  stdin?: string;
}

/** A value the command catalogue refuses to put in a command line; nothing was sent. */
export class CatalogueError extends CodedError<"HOST_BAD_ARGUMENT"> {
  constructor(
    message: string,
    /** The refused value. */
    readonly argument: string,
  ) {
    // Not retryable: bad input (a hostile or malformed name or path) stays bad.
    super("HOST_BAD_ARGUMENT", message, { retryable: false });
  }
}

// libvirt domain names: Nova's instance-%08x, plus the names operators give by hand.
const DOMAIN_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
// Absolute paths made of plain characters only, no `.`/`..` segments and no `//`. A segment may
// start with `.` (migbot's own temp files are `.<file>.migbot-tmp-<id>`) but never with `-`.
const PATH_RE = /^\/(?:[A-Za-z0-9_.][A-Za-z0-9._-]*\/)*[A-Za-z0-9_.][A-Za-z0-9._-]*$/;
/** Temp files migbot writes are named `.<file>.migbot-tmp-<id>` in the target's folder. */
export const TEMP_FILE_RE = /\/\.[A-Za-z0-9._-]+\.migbot-tmp-[A-Za-z0-9]+$/;

// Linux interface names: at most 15 bytes (IFNAMSIZ − 1), never '/', whitespace, '.' or '..'; a
// letter or digit first keeps '-' options and dot names out.
const IFACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const IPV4_RE =
  /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/;
// IPv6 in hex groups and colons only (no zone, no embedded IPv4): what `ip route get` takes as is.
const IPV6_RE = /^[0-9a-fA-F:]{2,39}$/;

/** Validates an IP address literal (IPv4 dotted quad or plain IPv6); throws a {@link CatalogueError}. */
export function checkAddress(address: string): string {
  const v6 = IPV6_RE.test(address) && address.includes(":") && (address.match(/::/g) ?? []).length <= 1;
  if (!IPV4_RE.test(address) && !v6) {
    throw new CatalogueError(`'${printable(address)}' is not an IP address (IPv4 a.b.c.d or IPv6)`, address);
  }
  return address;
}

/** Validates a network interface name; throws a {@link CatalogueError}. */
export function checkIface(iface: string): string {
  if (!IFACE_RE.test(iface)) {
    throw new CatalogueError(
      `'${printable(iface)}' is not a network interface name (letters, digits, '.', '_', '-'; at most 15)`,
      iface,
    );
  }
  return iface;
}

function checkSeconds(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > DIRTYRATE_CALC_MAX_SECONDS) {
    throw new CatalogueError(
      `dirty-rate seconds must be a whole number from 1 to ${DIRTYRATE_CALC_MAX_SECONDS}`,
      String(seconds),
    );
  }
  return seconds;
}

/** Validates a libvirt domain name; throws a {@link CatalogueError} naming the problem. */
export function checkDomain(domain: string): string {
  if (!DOMAIN_RE.test(domain)) {
    throw new CatalogueError(
      `'${printable(domain)}' is not a valid libvirt domain name (letters, digits, '.', '_', '-'; at most 128)`,
      domain,
    );
  }
  return domain;
}

/** Validates an absolute path of plain characters; throws a {@link CatalogueError}. */
export function checkPath(path: string): string {
  if (
    !PATH_RE.test(path) ||
    path.split("/").some((part) => part === "." || part === "..") ||
    path.length > 4096
  ) {
    throw new CatalogueError(
      `'${printable(path)}' is not an allowed path (absolute, letters, digits, '.', '_', '-', no '.' or '..' parts)`,
      path,
    );
  }
  return path;
}

function checkService(service: string): ServiceName {
  if (!(ALLOWED_SERVICES as readonly string[]).includes(service)) {
    throw new CatalogueError(
      `'${printable(service)}' is not a service migbot manages (${ALLOWED_SERVICES.join(", ")})`,
      service,
    );
  }
  return service as ServiceName;
}

function checkRestartable(service: string): ServiceName {
  if (!(RESTARTABLE_SERVICES as readonly string[]).includes(service)) {
    throw new CatalogueError(
      `'${printable(service)}' is not a service migbot restarts (${RESTARTABLE_SERVICES.join(", ")})`,
      service,
    );
  }
  return service as ServiceName;
}

function checkLines(lines: number): number {
  if (!Number.isInteger(lines) || lines < 1 || lines > MAX_LOG_LINES) {
    throw new CatalogueError(
      `log line count must be a whole number from 1 to ${MAX_LOG_LINES}`,
      String(lines),
    );
  }
  return lines;
}

function checkTempPath(path: string): string {
  checkPath(path);
  if (!TEMP_FILE_RE.test(path)) {
    throw new CatalogueError(`'${printable(path)}' is not a migbot temp file`, path);
  }
  return path;
}

/** Shows a value in an error without control characters that could garble a terminal or Slack. */
function printable(value: string): string {
  const clipped = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return clipped.replace(/[\x00-\x1f\x7f]/g, "?");
}

// GNU coreutils options of the file commands, shared by rendering and parsing.
const WRITE_FILE_OPERANDS = ["status=none", "conv=nocreat,fsync", "oflag=nofollow"];
const COPY_FILE_OPTIONS = ["-p", "-T", "--remove-destination"];
const RENAME_FILE_OPTIONS = ["-f", "-T"];

/** Quotes one argument for a POSIX shell. Plain words stay as they are. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_./=:@%+,-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The argv of a command, validated. Throws {@link CatalogueError} on a bad argument. */
export function commandArgv(cmd: HostCommand): { argv: string[]; stdin?: string } {
  switch (cmd.kind) {
    case "virsh-domjobinfo":
      return {
        argv: ["virsh", "domjobinfo", ...(cmd.completed ? ["--completed"] : []), checkDomain(cmd.domain)],
      };
    case "virsh-capabilities":
      return { argv: ["virsh", "capabilities"] };
    case "virsh-cpu-compare":
      return { argv: ["virsh", "cpu-compare", "--error", "/dev/stdin"], stdin: cmd.cpuXml };
    case "virsh-cpu-baseline":
      return { argv: ["virsh", "cpu-baseline", "/dev/stdin"], stdin: cmd.cpusXml };
    case "virsh-domcapabilities":
      return { argv: ["virsh", "domcapabilities"] };
    case "virsh-hypervisor-cpu-compare":
      return { argv: ["virsh", "hypervisor-cpu-compare", "--error", "/dev/stdin"], stdin: cmd.cpuXml };
    case "virsh-hypervisor-cpu-baseline":
      return { argv: ["virsh", "hypervisor-cpu-baseline", "/dev/stdin"], stdin: cmd.cpusXml };
    case "virsh-list":
      return { argv: ["virsh", "list", "--all"] };
    case "virsh-version":
      return { argv: ["virsh", "version"] };
    case "virsh-domdirtyrate-calc":
      return {
        argv: [
          "virsh",
          "domdirtyrate-calc",
          checkDomain(cmd.domain),
          "--seconds",
          String(checkSeconds(cmd.seconds)),
        ],
      };
    case "virsh-domstats-dirtyrate":
      return { argv: ["virsh", "domstats", "--dirtyrate", checkDomain(cmd.domain)] };
    case "ip-route-get":
      return { argv: ["ip", "-o", "route", "get", checkAddress(cmd.address)] };
    case "read-nic-speed":
      return { argv: ["cat", "--", `/sys/class/net/${checkIface(cmd.iface)}/speed`] };
    case "read-file":
      return { argv: ["cat", "--", checkPath(cmd.path)] };
    case "stat-file":
      return { argv: ["stat", "-c", "%a %U %G %s", "--", checkPath(cmd.path)] };
    case "write-file":
      return {
        argv: ["dd", ...WRITE_FILE_OPERANDS, `of=${checkTempPath(cmd.path)}`],
        stdin: cmd.content,
      };
    case "copy-file":
      return { argv: ["cp", ...COPY_FILE_OPTIONS, "--", checkPath(cmd.from), checkPath(cmd.to)] };
    case "rename-file":
      return { argv: ["mv", ...RENAME_FILE_OPTIONS, "--", checkTempPath(cmd.from), checkPath(cmd.to)] };
    case "remove-temp-file":
      return { argv: ["rm", "-f", "--", checkTempPath(cmd.path)] };
    case "systemctl-is-active":
      return { argv: ["systemctl", "is-active", checkService(cmd.service)] };
    case "systemctl-restart":
      return { argv: ["systemctl", "restart", checkRestartable(cmd.service)] };
    case "nova-compute-version":
      return { argv: ["nova-compute", "--version"] };
    case "tail-log":
      return { argv: ["tail", "-n", String(checkLines(cmd.lines)), "--", checkPath(cmd.path)] };
  }
}

/** Renders a command as the shell line sent over SSH, with `sudo -n` in front when asked. */
export function renderCommand(cmd: HostCommand, opts: { sudo?: boolean } = {}): RenderedCommand {
  const { argv, stdin } = commandArgv(cmd);
  const full = opts.sudo ? ["sudo", "-n", "--", ...argv] : argv;
  const line = full.map(shellQuote).join(" ");
  return stdin === undefined ? { line } : { line, stdin };
}

/**
 * Splits a shell line into words the way a POSIX shell would for the subset migbot emits: plain
 * words, single quotes and the `'\''` idiom, double quotes without expansions. Returns null when
 * the line holds anything else (operators, expansions, globs, unbalanced quotes): such a line is
 * never a catalogue command.
 */
export function tokenize(line: string): string[] | null {
  const words: string[] = [];
  let current = "";
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const ch = line[i]!;
    if (ch === " " || ch === "\t") {
      if (inWord) words.push(current);
      current = "";
      inWord = false;
      i++;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return null;
      current += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === "\\") {
      if (i + 1 >= line.length) return null;
      current += line[i + 1];
      inWord = true;
      i += 2;
    } else if (ch === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) return null;
      const inner = line.slice(i + 1, end);
      if (/[$`\\!]/.test(inner)) return null;
      current += inner;
      inWord = true;
      i = end + 1;
    } else if (/[;&|<>()$`*?[\]{}~#\n\r]/.test(ch)) {
      return null;
    } else {
      current += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(current);
  return words;
}

/**
 * Recognises a catalogue command from its argv (after {@link tokenize}); `sudo -n --` in front is
 * reported as `sudo: true`. Returns null for anything outside the catalogue or with a bad argument.
 * Commands that take stdin come back with an empty stdin field: the caller fills it in.
 */
export function parseCommandLine(line: string): { command: HostCommand; sudo: boolean } | null {
  const words = tokenize(line);
  if (words === null || words.length === 0) return null;
  let sudo = false;
  let argv = words;
  if (argv[0] === "sudo") {
    if (argv[1] !== "-n" || argv[2] !== "--") return null;
    sudo = true;
    argv = argv.slice(3);
  }
  const command = matchArgv(argv);
  if (command === null) return null;
  // Only accept what migbot itself would render: a round trip proves every argument is valid.
  try {
    const again = commandArgv(command).argv;
    if (again.length !== argv.length || again.some((word, idx) => word !== argv[idx])) return null;
  } catch {
    return null;
  }
  return { command, sudo };
}

function matchArgv(argv: string[]): HostCommand | null {
  const [a0, a1, a2, a3, a4] = argv;
  const n = argv.length;
  if (a0 === "virsh") {
    if (a1 === "domjobinfo" && n === 3) return { kind: "virsh-domjobinfo", domain: a2! };
    if (a1 === "domjobinfo" && n === 4 && a2 === "--completed")
      return { kind: "virsh-domjobinfo", domain: a3!, completed: true };
    if (a1 === "capabilities" && n === 2) return { kind: "virsh-capabilities" };
    if (a1 === "cpu-compare" && n === 4) return { kind: "virsh-cpu-compare", cpuXml: "" };
    if (a1 === "cpu-baseline" && n === 3) return { kind: "virsh-cpu-baseline", cpusXml: "" };
    if (a1 === "domcapabilities" && n === 2) return { kind: "virsh-domcapabilities" };
    if (a1 === "hypervisor-cpu-compare" && n === 4)
      return { kind: "virsh-hypervisor-cpu-compare", cpuXml: "" };
    if (a1 === "hypervisor-cpu-baseline" && n === 3)
      return { kind: "virsh-hypervisor-cpu-baseline", cpusXml: "" };
    if (a1 === "list" && n === 3) return { kind: "virsh-list" };
    if (a1 === "version" && n === 2) return { kind: "virsh-version" };
    if (a1 === "domdirtyrate-calc" && n === 5 && a3 === "--seconds") {
      const seconds = Number(a4);
      if (!Number.isInteger(seconds)) return null;
      return { kind: "virsh-domdirtyrate-calc", domain: a2!, seconds };
    }
    if (a1 === "domstats" && n === 4 && a2 === "--dirtyrate")
      return { kind: "virsh-domstats-dirtyrate", domain: a3! };
    return null;
  }
  if (a0 === "ip" && n === 5 && a1 === "-o" && a2 === "route" && a3 === "get")
    return { kind: "ip-route-get", address: a4! };
  if (a0 === "cat" && n === 3) {
    const nic = /^\/sys\/class\/net\/([^/]+)\/speed$/.exec(a2!);
    if (nic) return { kind: "read-nic-speed", iface: nic[1]! };
    return { kind: "read-file", path: a2! };
  }
  if (a0 === "stat" && n === 5) return { kind: "stat-file", path: a4! };
  if (a0 === "dd" && n === WRITE_FILE_OPERANDS.length + 2 && argv[n - 1]?.startsWith("of="))
    return { kind: "write-file", path: argv[n - 1]!.slice(3), content: "" };
  if (a0 === "cp" && n === COPY_FILE_OPTIONS.length + 4)
    return { kind: "copy-file", from: argv[n - 2]!, to: argv[n - 1]! };
  if (a0 === "mv" && n === RENAME_FILE_OPTIONS.length + 4)
    return { kind: "rename-file", from: argv[n - 2]!, to: argv[n - 1]! };
  if (a0 === "rm" && n === 4) return { kind: "remove-temp-file", path: a3! };
  if (a0 === "systemctl" && n === 3 && (a1 === "is-active" || a1 === "restart")) {
    if (!(ALLOWED_SERVICES as readonly string[]).includes(a2!)) return null;
    return a1 === "is-active"
      ? { kind: "systemctl-is-active", service: a2 as ServiceName }
      : { kind: "systemctl-restart", service: a2 as ServiceName };
  }
  if (a0 === "nova-compute" && n === 2 && a1 === "--version") return { kind: "nova-compute-version" };
  if (a0 === "tail" && n === 5 && a1 === "-n") {
    const lines = Number(a2);
    if (!Number.isInteger(lines)) return null;
    return { kind: "tail-log", path: a4!, lines };
  }
  return null;
}
