/**
 * The shipped sudoers file (deploy/sudoers.d/migbot) under real sudo (Debian's package): `visudo -c`
 * accepts it, `sudo -l -U migbot <command>` allows every command migbot's catalogue renders, and
 * refuses the escapes a security review found in the README's earlier rules, with variants.
 *
 * Then it runs apply.ts's nova.conf write path and rollback for real, as migbot through sudo, on a
 * root:nova 0640 /etc/nova/nova.conf, and the review's dd escape for real under both rule sets.
 *
 * Everything runs in a private mount namespace where temp copies of /etc/sudoers, /etc/sudoers.d
 * (holding only the files under test), /etc/passwd, /etc/group and /etc/shadow (with the test users)
 * are bound over the real ones, and /etc/nova and /run/sudo are tmpfs (made in an overlay on /etc
 * when the machine has no /etc/nova), so the machine's /etc is never touched. A program the file
 * names that is not installed here (nova-compute, usually) is stubbed in an overlay inside the
 * namespace: `sudo -l` only needs it to exist.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { backupPathFor, tempPathFor } from "../../src/fixes/apply";
import {
  ALLOWED_SERVICES,
  type HostCommand,
  type HostCommandKind,
  MAX_LOG_LINES,
  RESTARTABLE_SERVICES,
  renderCommand,
  shellQuote,
  tokenize,
} from "../../src/hosts/catalogue";
import { DEFAULT_NOVA_COMPUTE_LOG_PATH, DEFAULT_NOVA_CONF_PATHS } from "../../src/hosts/inventory";
import { DIRTYRATE_CALC_MAX_SECONDS } from "../../src/nova-facts/libvirt-dirtyrate";
import { requireProgram } from "../support/programs";

const SUDOERS_FILE = fileURLToPath(new URL("../../deploy/sudoers.d/migbot", import.meta.url));
/** The SSH user the shipped file names (its User_Alias). */
const SUDO_USER = "migbot";
/** A second user holding the README's rules from before issue 11: the control for the escapes. */
const README_USER = "migbot-readme";
/** The whole run: visudo plus some 340 `sudo -l` checks (4 to 8 ms each here). */
const SUDO_RUN_TIMEOUT_MS = 60_000;
/** Evenly spread tail counts checked besides the small ones and the digit boundaries. */
const TAIL_SPREAD_COUNTS = 50;

/** The README's "least-privilege" rules before issue 11, kept to prove the escapes below reach sudo's matching. */
const README_RULES_BEFORE = String.raw`Cmnd_Alias OLD_READ = /usr/bin/virsh domjobinfo *, /usr/bin/virsh capabilities, \
  /usr/bin/virsh list --all, /usr/bin/virsh cpu-compare --error /dev/stdin, \
  /usr/bin/virsh cpu-baseline /dev/stdin, /usr/bin/cat -- /etc/nova/nova.conf, \
  /usr/bin/cat -- /etc/nova/nova-compute.conf, /usr/bin/stat -c %a\ %U\ %G\ %s -- /etc/nova/*, \
  /usr/bin/tail -n * -- /var/log/nova/nova-compute.log, /usr/bin/systemctl is-active nova-compute
Cmnd_Alias OLD_FIX = /usr/bin/dd status=none of=/etc/nova/.*.migbot-tmp-*, \
  /usr/bin/cp -p -- /etc/nova/* /etc/nova/*, /usr/bin/chown --reference=/etc/nova/* -- /etc/nova/.*, \
  /usr/bin/chmod --reference=/etc/nova/* -- /etc/nova/.*, /usr/bin/mv -f -- /etc/nova/.* /etc/nova/*, \
  /usr/bin/rm -f -- /etc/nova/.*.migbot-tmp-*, /usr/bin/systemctl restart nova-compute
${README_USER} ALL=(root) NOPASSWD: OLD_READ, OLD_FIX
`;

type Samples = { [K in HostCommandKind]: Extract<HostCommand, { kind: K }>[] };

const [NOVA_CONF, NOVA_COMPUTE_CONF] = DEFAULT_NOVA_CONF_PATHS as [string, string];
const LOG = DEFAULT_NOVA_COMPUTE_LOG_PATH;
/** Backup stamps at both ends of the format's range and now. */
const BACKUP_TIMES = [Date.UTC(2026, 0, 1, 0, 0, 0, 0), Date.UTC(2099, 11, 31, 23, 59, 59, 999), Date.now()];

/**
 * Every kind of the catalogue with the commands migbot sends for the default inventory paths, built
 * with the same helpers apply.ts uses for temp and backup names. The mapped type makes a kind
 * added to the catalogue without samples here (and so without a sudoers rule) fail typecheck.
 */
function catalogueSamples(): Samples {
  const confs = DEFAULT_NOVA_CONF_PATHS;
  const temps = confs.flatMap((path) => [tempPathFor(path), tempPathFor(path)]);
  const backupsOf = (path: string) => BACKUP_TIMES.map((at) => backupPathFor(path, at));
  const domains = ["instance-0000002a", "A", "vm_1.test-2", "a".repeat(128)];
  return {
    "virsh-domjobinfo": domains.flatMap((domain) => [
      { kind: "virsh-domjobinfo", domain },
      { kind: "virsh-domjobinfo", domain, completed: true },
    ]),
    "virsh-capabilities": [{ kind: "virsh-capabilities" }],
    "virsh-cpu-compare": [{ kind: "virsh-cpu-compare", cpuXml: "<cpu/>" }],
    "virsh-cpu-baseline": [{ kind: "virsh-cpu-baseline", cpusXml: "<cpus/>" }],
    "virsh-domcapabilities": [{ kind: "virsh-domcapabilities" }],
    "virsh-hypervisor-cpu-compare": [{ kind: "virsh-hypervisor-cpu-compare", cpuXml: "<cpu/>" }],
    "virsh-hypervisor-cpu-baseline": [{ kind: "virsh-hypervisor-cpu-baseline", cpusXml: "<cpus/>" }],
    "virsh-list": [{ kind: "virsh-list" }],
    "virsh-version": [{ kind: "virsh-version" }],
    "virsh-domdirtyrate-calc": domains.flatMap((domain) =>
      [1, 2, 9, 10, 19, 50, 59, DIRTYRATE_CALC_MAX_SECONDS].map((seconds) => ({
        kind: "virsh-domdirtyrate-calc" as const,
        domain,
        seconds,
      })),
    ),
    "virsh-domstats-dirtyrate": domains.map((domain) => ({ kind: "virsh-domstats-dirtyrate", domain })),
    "ip-route-get": ["10.99.0.12", "192.168.255.1", "0.0.0.0", "fd00::12", "2001:db8:0:0:0:0:0:1"].map(
      (address) => ({ kind: "ip-route-get", address }),
    ),
    "read-nic-speed": ["eth0", "ens3f1", "bond0.100", "br-ex", "a".repeat(15)].map((iface) => ({
      kind: "read-nic-speed",
      iface,
    })),
    "read-file": confs.map((path) => ({ kind: "read-file", path })),
    "stat-file": confs.map((path) => ({ kind: "stat-file", path })),
    "write-file": temps.map((path) => ({ kind: "write-file", path, content: "[DEFAULT]\n" })),
    "copy-file": confs.flatMap((path) => [
      // back up; the temp a write fills; a restore of each backup.
      ...backupsOf(path).map((to) => ({ kind: "copy-file" as const, from: path, to })),
      { kind: "copy-file", from: path, to: tempPathFor(path) },
      ...backupsOf(path).map((from) => ({ kind: "copy-file" as const, from, to: tempPathFor(path) })),
    ]),
    "rename-file": confs.map((path) => ({ kind: "rename-file", from: tempPathFor(path), to: path })),
    "remove-temp-file": temps.map((path) => ({ kind: "remove-temp-file", path })),
    "systemctl-is-active": ALLOWED_SERVICES.map((service) => ({ kind: "systemctl-is-active", service })),
    "systemctl-restart": RESTARTABLE_SERVICES.map((service) => ({ kind: "systemctl-restart", service })),
    "nova-compute-version": [{ kind: "nova-compute-version" }],
    "tail-log": tailCounts().map((lines) => ({ kind: "tail-log", path: LOG, lines })),
  };
}

/**
 * Line counts for tail: 1 to 100, both sides of every digit boundary up to MAX_LOG_LINES (where a
 * pattern over digits goes wrong), and evenly spread ones between; about 175 instead of all 5 000,
 * which take 30 to 40 s of `sudo -l` here.
 */
function tailCounts(): number[] {
  const counts = new Set<number>(Array.from({ length: 100 }, (_, i) => i + 1));
  for (let step = 10; step <= MAX_LOG_LINES; step *= 10) {
    for (let d = 1; d <= 9; d++) for (const n of [d * step - 1, d * step, d * step + 1]) counts.add(n);
  }
  for (let i = 1; i <= TAIL_SPREAD_COUNTS; i++)
    counts.add(Math.round((i * MAX_LOG_LINES) / TAIL_SPREAD_COUNTS));
  return [...counts].filter((n) => n >= 1 && n <= MAX_LOG_LINES).sort((a, b) => a - b);
}

/** The argv sudo receives: the rendered line as the host's shell splits it, minus `sudo -n --`. */
function sudoArgv(cmd: HostCommand): string[] {
  const words = tokenize(renderCommand(cmd, { sudo: true }).line);
  if (words === null || words.slice(0, 3).join(" ") !== "sudo -n --") {
    throw new Error(`${cmd.kind} does not render as a sudo line`);
  }
  return words.slice(3);
}

interface Escape {
  what: string;
  argv: string[];
  /** Run as this user instead of root (`sudo -u`). */
  runAs?: string;
  /** One the review found ALLOWED by the README's earlier rules. */
  review?: true;
}

const TEMP = tempPathFor(NOVA_CONF);
const BACKUP = backupPathFor(NOVA_CONF, BACKUP_TIMES[0]!);
const OLD_TEMP = "/etc/nova/.x.migbot-tmp-1";
const CP = ["cp", "-p", "-T", "--remove-destination", "--"];
const DD = ["dd", "status=none", "conv=nocreat,fsync", "oflag=nofollow"];
const MV = ["mv", "-f", "-T", "--"];

/** Commands migbot's key must not get to run as root. */
const ESCAPES: Escape[] = [
  // What the review ran against the README's rules, all ALLOWED there.
  {
    what: "cp out of /etc/nova into sudoers.d",
    argv: ["cp", "-p", "--", "/etc/nova/../../srv/evil", "/etc/nova/../sudoers.d/evil"],
    review: true,
  },
  {
    what: "mv shadow over a config",
    argv: ["mv", "-f", "--", "/etc/nova/./../shadow", NOVA_CONF],
    review: true,
  },
  {
    what: "chown shadow",
    argv: ["chown", `--reference=${NOVA_CONF}`, "--", "/etc/nova/./../shadow"],
    review: true,
  },
  {
    what: "chmod shadow",
    argv: ["chmod", `--reference=${NOVA_CONF}`, "--", "/etc/nova/./../shadow"],
    review: true,
  },
  {
    what: "dd's last of= wins",
    argv: ["dd", "status=none", `of=${OLD_TEMP}`, "of=/etc/sudoers.d/evil"],
    review: true,
  },
  { what: "rm a second file", argv: ["rm", "-f", "--", OLD_TEMP, "/etc/passwd"], review: true },
  { what: "tail shadow before --", argv: ["tail", "-n", "1", "/etc/shadow", "--", LOG], review: true },
  {
    what: "virsh runs one argument as ;-separated commands",
    argv: ["virsh", "domjobinfo x; destroy vm1"],
    review: true,
  },
  // The same in today's command forms, and variants.
  { what: "dd's last of= wins (new form)", argv: [...DD, `of=${TEMP}`, "of=/etc/sudoers.d/evil"] },
  { what: "dd creating the temp with the umask", argv: ["dd", "status=none", `of=${TEMP}`] },
  { what: "dd without nofollow", argv: ["dd", "status=none", "conv=nocreat,fsync", `of=${TEMP}`] },
  { what: "dd straight into the config", argv: [...DD, `of=${NOVA_CONF}`] },
  { what: "dd reading shadow into the temp", argv: ["dd", "if=/etc/shadow", ...DD.slice(1), `of=${TEMP}`] },
  {
    what: "dd notrunc",
    argv: ["dd", "status=none", "conv=nocreat,fsync,notrunc", "oflag=nofollow", `of=${TEMP}`],
  },
  { what: "dd into a temp name with ..", argv: [...DD, "of=/etc/nova/.nova.conf.migbot-tmp-../../passwd"] },
  { what: "dd into a temp outside /etc/nova", argv: [...DD, "of=/etc/.nova.conf.migbot-tmp-0123456789ab"] },
  { what: "dd newline then another of=", argv: [...DD, `of=${TEMP}\nof=/etc/passwd`] },
  {
    what: "cp traversal (new form)",
    argv: [...CP, "/etc/nova/../../srv/evil", "/etc/nova/../sudoers.d/evil"],
  },
  { what: "cp via /./", argv: [...CP, "/etc/nova/./nova.conf", TEMP] },
  { what: "cp via //", argv: [...CP, "/etc/nova//nova.conf", TEMP] },
  { what: "cp via leading //", argv: [...CP, "//etc/nova/nova.conf", TEMP] },
  { what: "cp shadow into the temp", argv: [...CP, "/etc/shadow", TEMP] },
  { what: "cp rootwrap.conf into the temp", argv: [...CP, "/etc/nova/rootwrap.conf", TEMP] },
  { what: "cp a config into rootwrap.d", argv: [...CP, NOVA_CONF, "/etc/nova/rootwrap.d/evil.filters"] },
  { what: "cp a config over rootwrap.conf", argv: [...CP, NOVA_CONF, "/etc/nova/rootwrap.conf"] },
  { what: "cp a backup straight over the config", argv: [...CP, BACKUP, NOVA_CONF] },
  { what: "cp with a second source", argv: [...CP, NOVA_CONF, "/etc/shadow", TEMP] },
  { what: "cp with a trailing argument", argv: [...CP, NOVA_CONF, TEMP, "/etc/sudoers.d"] },
  { what: "cp into a folder (no -T)", argv: ["cp", "-p", "--remove-destination", "--", NOVA_CONF, BACKUP] },
  {
    what: "cp --target-directory",
    argv: [
      "cp",
      "-p",
      "-T",
      "--remove-destination",
      "--target-directory=/etc/sudoers.d",
      "--",
      NOVA_CONF,
      BACKUP,
    ],
  },
  { what: "cp options after --", argv: [...CP, "-r", NOVA_CONF, TEMP] },
  { what: "cp a doubled --", argv: [...CP, "--", NOVA_CONF, TEMP] },
  { what: "cp newline then shadow", argv: [...CP, NOVA_CONF, `${TEMP}\n/etc/shadow`] },
  { what: "mv shadow over a config (new form)", argv: [...MV, "/etc/nova/./../shadow", NOVA_CONF] },
  { what: "mv the temp over shadow", argv: [...MV, TEMP, "/etc/nova/../shadow"] },
  { what: "mv the temp over rootwrap.conf", argv: [...MV, TEMP, "/etc/nova/rootwrap.conf"] },
  { what: "mv the temp via /./", argv: [...MV, TEMP, "/etc/nova/./nova.conf"] },
  { what: "mv a config (not a temp) away", argv: [...MV, NOVA_CONF, NOVA_COMPUTE_CONF] },
  { what: "mv with a trailing argument", argv: [...MV, TEMP, NOVA_CONF, "/etc/shadow"] },
  { what: "mv into a folder (no -T)", argv: ["mv", "-f", "--", TEMP, NOVA_CONF] },
  { what: "mv -t", argv: ["mv", "-f", "-T", "-t", "/etc", "--", TEMP] },
  { what: "rm a second file (new temp name)", argv: ["rm", "-f", "--", TEMP, "/etc/passwd"] },
  { what: "rm a config", argv: ["rm", "-f", "--", NOVA_CONF] },
  { what: "rm -rf /etc/nova", argv: ["rm", "-rf", "--", "/etc/nova"] },
  {
    what: "rm a temp name with ..",
    argv: ["rm", "-f", "--", "/etc/nova/.nova.conf.migbot-tmp-../../passwd"],
  },
  { what: "rm a doubled --", argv: ["rm", "-f", "--", "--", "/etc/passwd"] },
  { what: "rm --no-preserve-root", argv: ["rm", "-f", "--no-preserve-root", "--", TEMP] },
  { what: "cat shadow", argv: ["cat", "--", "/etc/shadow"] },
  { what: "cat via ..", argv: ["cat", "--", "/etc/nova/../shadow"] },
  { what: "cat via /./", argv: ["cat", "--", "/etc/nova/./nova.conf"] },
  { what: "cat via //", argv: ["cat", "--", "/etc/nova//nova.conf"] },
  { what: "cat via leading //", argv: ["cat", "--", "//etc/nova/nova.conf"] },
  { what: "cat a second file", argv: ["cat", "--", NOVA_CONF, "/etc/shadow"] },
  { what: "cat shadow before --", argv: ["cat", "/etc/shadow", "--", NOVA_CONF] },
  { what: "cat a doubled --", argv: ["cat", "--", "--", NOVA_CONF] },
  { what: "cat without --", argv: ["cat", NOVA_CONF] },
  { what: "cat a newline then shadow", argv: ["cat", "--", `${NOVA_CONF}\n/etc/shadow`] },
  { what: "cat shadow then a newline", argv: ["cat", "--", `/etc/shadow\n${NOVA_CONF}`] },
  { what: "cat api-paste.ini", argv: ["cat", "--", "/etc/nova/api-paste.ini"] },
  { what: "cat rootwrap.conf", argv: ["cat", "--", "/etc/nova/rootwrap.conf"] },
  { what: "cat a backup", argv: ["cat", "--", BACKUP] },
  { what: "cat the temp", argv: ["cat", "--", TEMP] },
  { what: "stat shadow", argv: ["stat", "-c", "%a %U %G %s", "--", "/etc/shadow"] },
  { what: "stat a second file", argv: ["stat", "-c", "%a %U %G %s", "--", NOVA_CONF, "/etc/shadow"] },
  { what: "stat another format", argv: ["stat", "-c", "%n", "--", NOVA_CONF] },
  { what: "tail shadow", argv: ["tail", "-n", "1", "--", "/etc/shadow"] },
  { what: "tail via ..", argv: ["tail", "-n", "1", "--", "/var/log/nova/../../../etc/shadow"] },
  { what: "tail another log", argv: ["tail", "-n", "1", "--", "/var/log/nova/nova-api.log"] },
  { what: "tail a second file", argv: ["tail", "-n", "1", "--", LOG, "/etc/shadow"] },
  { what: "tail -n 999999", argv: ["tail", "-n", "999999", "--", LOG] },
  { what: "tail one past the maximum", argv: ["tail", "-n", String(MAX_LOG_LINES + 1), "--", LOG] },
  { what: "tail -n 0", argv: ["tail", "-n", "0", "--", LOG] },
  { what: "tail -n 01", argv: ["tail", "-n", "01", "--", LOG] },
  { what: "tail -n +1 (from the first line)", argv: ["tail", "-n", "+1", "--", LOG] },
  { what: "tail -n -1", argv: ["tail", "-n", "-1", "--", LOG] },
  { what: "tail -n 1e3", argv: ["tail", "-n", "1e3", "--", LOG] },
  { what: "tail -f", argv: ["tail", "-f", "-n", "1", "--", LOG] },
  { what: "tail -f after the count", argv: ["tail", "-n", "1", "-f", "--", LOG] },
  { what: "tail --follow", argv: ["tail", "-n", "1", "--follow=name", "--", LOG] },
  { what: "tail -c", argv: ["tail", "-c", "1", "--", LOG] },
  { what: "tail a doubled --", argv: ["tail", "-n", "1", "--", "--", LOG] },
  { what: "systemctl is-active another service", argv: ["systemctl", "is-active", "sshd"] },
  { what: "systemctl restart libvirtd", argv: ["systemctl", "restart", "libvirtd"] },
  { what: "systemctl restart sshd", argv: ["systemctl", "restart", "sshd"] },
  { what: "systemctl stop nova-compute", argv: ["systemctl", "stop", "nova-compute"] },
  { what: "systemctl restart two units", argv: ["systemctl", "restart", "nova-compute", "sshd"] },
  { what: "systemctl restart a unit file name", argv: ["systemctl", "restart", "nova-compute.service"] },
  { what: "systemctl restart a newline then sshd", argv: ["systemctl", "restart", "nova-compute\nsshd"] },
  { what: "systemctl link a unit", argv: ["systemctl", "link", "/tmp/evil.service"] },
  { what: "systemctl is-active with --now", argv: ["systemctl", "is-active", "nova-compute", "--now"] },
  { what: "nova-compute itself", argv: ["nova-compute"] },
  { what: "nova-compute with a config", argv: ["nova-compute", "--config-file", "/etc/shadow", "--version"] },
  {
    what: "nova-compute --version and more",
    argv: ["nova-compute", "--version", "--config-file", "/etc/shadow"],
  },
  { what: "virsh ; in the domain word", argv: ["virsh", "domjobinfo", "x; destroy vm1"] },
  { what: "virsh a newline then destroy", argv: ["virsh", "domjobinfo x\ndestroy vm1"] },
  { what: "virsh extra words", argv: ["virsh", "domjobinfo", "x", "destroy", "vm1"] },
  { what: "virsh destroy", argv: ["virsh", "destroy", "vm1"] },
  { what: "virsh another connection", argv: ["virsh", "-c", "qemu+ssh://evil/system", "list", "--all"] },
  { what: "virsh list with more", argv: ["virsh", "list", "--all", "--name"] },
  { what: "virsh cpu-compare on shadow", argv: ["virsh", "cpu-compare", "--error", "/etc/shadow"] },
  { what: "virsh cpu-baseline on shadow", argv: ["virsh", "cpu-baseline", "/etc/shadow"] },
  {
    what: "virsh hypervisor-cpu-compare on shadow",
    argv: ["virsh", "hypervisor-cpu-compare", "--error", "/etc/shadow"],
  },
  {
    what: "virsh hypervisor-cpu-compare on another emulator",
    argv: ["virsh", "hypervisor-cpu-compare", "--emulator", "/tmp/evil", "--error", "/dev/stdin"],
  },
  {
    what: "virsh hypervisor-cpu-baseline on shadow",
    argv: ["virsh", "hypervisor-cpu-baseline", "/etc/shadow"],
  },
  {
    what: "virsh domcapabilities of another emulator",
    argv: ["virsh", "domcapabilities", "--emulatorbin", "/tmp/evil"],
  },
  { what: "virsh domcapabilities with a second command", argv: ["virsh", "domcapabilities; destroy vm1"] },
  { what: "virsh domjobinfo --completed alone", argv: ["virsh", "domjobinfo", "--completed"] },
  { what: "virsh a domain too long", argv: ["virsh", "domjobinfo", "a".repeat(129)] },
  { what: "virsh a domain starting with -", argv: ["virsh", "domjobinfo", "-x"] },
  // The prediction's commands (issue 14): only the exact read-only forms.
  { what: "domdirtyrate-calc 0 s", argv: ["virsh", "domdirtyrate-calc", "vm1", "--seconds", "0"] },
  { what: "domdirtyrate-calc 61 s", argv: ["virsh", "domdirtyrate-calc", "vm1", "--seconds", "61"] },
  { what: "domdirtyrate-calc 600 s", argv: ["virsh", "domdirtyrate-calc", "vm1", "--seconds", "600"] },
  { what: "domdirtyrate-calc 05 s", argv: ["virsh", "domdirtyrate-calc", "vm1", "--seconds", "05"] },
  {
    what: "domdirtyrate-calc dirty-bitmap (crashed QEMU 7.2 under TCG in the lab)",
    argv: ["virsh", "domdirtyrate-calc", "vm1", "--seconds", "1", "--mode", "dirty-bitmap"],
  },
  { what: "domdirtyrate-calc without --seconds", argv: ["virsh", "domdirtyrate-calc", "vm1"] },
  {
    what: "domdirtyrate-calc then destroy",
    argv: ["virsh", "domdirtyrate-calc", "vm1", "--seconds", "1", "destroy", "vm1"],
  },
  { what: "domstats of every domain and group", argv: ["virsh", "domstats"] },
  { what: "domstats --dirtyrate of every domain", argv: ["virsh", "domstats", "--dirtyrate"] },
  { what: "domstats --dirtyrate two domains", argv: ["virsh", "domstats", "--dirtyrate", "vm1", "vm2"] },
  { what: "domstats --block", argv: ["virsh", "domstats", "--block", "vm1"] },
  { what: "virsh version --daemon", argv: ["virsh", "version", "--daemon"] },
  { what: "ip route add", argv: ["ip", "route", "add", "default", "via", "10.0.0.1"] },
  { what: "ip -o route get from", argv: ["ip", "-o", "route", "get", "10.0.0.1", "from", "10.0.0.2"] },
  { what: "ip -o route get a name", argv: ["ip", "-o", "route", "get", "evil.example"] },
  { what: "ip -batch", argv: ["ip", "-batch", "/etc/shadow"] },
  { what: "ip netns exec", argv: ["ip", "netns", "exec", "x", "sh"] },
  { what: "cat a NIC file via ..", argv: ["cat", "--", "/sys/class/net/../../../etc/shadow"] },
  { what: "cat another sysfs file", argv: ["cat", "--", "/sys/class/net/eth0/address"] },
  { what: "cat speed of a 16-byte name", argv: ["cat", "--", `/sys/class/net/${"a".repeat(16)}/speed`] },
  { what: "cat speed then shadow", argv: ["cat", "--", "/sys/class/net/eth0/speed", "/etc/shadow"] },
  { what: "cat speed of .", argv: ["cat", "--", "/sys/class/net/./speed"] },
  { what: "another run-as user", argv: ["cat", "--", NOVA_CONF], runAs: "nobody" },
  { what: "a shell", argv: ["sh", "-c", "id"] },
];

interface Check {
  id: number;
  user: string;
  argv: string[];
  runAs?: string;
}

interface Answer {
  exitCode: number;
  output: string;
}

/** One command line run for real as a test user through sudo, and the files to `stat` after it. */
interface ExecStep {
  id: number;
  what: string;
  user: string;
  line: string;
  stdin: string;
  stat?: string[];
}

interface ExecAnswer {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** `%a %U %G %s` of each `stat` path, or `absent`. */
  stats: string[];
}

/** The group that owns nova's configs on Debian (`root:nova 0640`, nova-common's postinst). */
const NOVA_GROUP = "nova";
const ORIGINAL_CONF =
  "[DEFAULT]\ntransport_url = rabbit://nova:s3cret@controller\n\n[libvirt]\nvirt_type = kvm\n";
const EDITED_CONF = `${ORIGINAL_CONF}live_migration_permit_auto_converge = true\n`;

/**
 * apply.ts's write path and rollback for nova.conf, as the rendered lines migbot sends, then the
 * review's dd escape run for real by migbot (refused) and by the README rules' user (it writes).
 */
function execSteps(nextId: () => number): ExecStep[] {
  const temp = tempPathFor(NOVA_CONF);
  const backup = backupPathFor(NOVA_CONF, Date.now());
  const leftover = tempPathFor(NOVA_CONF);
  const restoreTemp = tempPathFor(NOVA_CONF);
  const step = (what: string, cmd: HostCommand, stat?: string[]): ExecStep => {
    const { line, stdin } = renderCommand(cmd, { sudo: true });
    return { id: nextId(), what, user: SUDO_USER, line, stdin: stdin ?? "", ...(stat && { stat }) };
  };
  const evil = ["dd", "status=none", `of=${OLD_TEMP}`, "of=/etc/sudoers.d/evil"].join(" ");
  const grant = `${SUDO_USER} ALL=(ALL) NOPASSWD: ALL\n`;
  return [
    step("read", { kind: "read-file", path: NOVA_CONF }),
    step("stat", { kind: "stat-file", path: NOVA_CONF }),
    step("back up", { kind: "copy-file", from: NOVA_CONF, to: backup }, [backup]),
    step("temp copy", { kind: "copy-file", from: NOVA_CONF, to: temp }, [temp]),
    step("write the temp", { kind: "write-file", path: temp, content: EDITED_CONF }, [temp]),
    step("rename over", { kind: "rename-file", from: temp, to: NOVA_CONF }, [temp, NOVA_CONF]),
    step("read back", { kind: "read-file", path: NOVA_CONF }),
    step("leftover temp", { kind: "copy-file", from: NOVA_CONF, to: leftover }, [leftover]),
    step("remove it", { kind: "remove-temp-file", path: leftover }, [leftover]),
    step("restore: temp from backup", { kind: "copy-file", from: backup, to: restoreTemp }, [restoreTemp]),
    step("restore: rename over", { kind: "rename-file", from: restoreTemp, to: NOVA_CONF }, [NOVA_CONF]),
    step("read the restored", { kind: "read-file", path: NOVA_CONF }),
    { id: nextId(), what: "cat shadow", user: SUDO_USER, line: "sudo -n -- cat -- /etc/shadow", stdin: "" },
    {
      id: nextId(),
      what: "dd into sudoers.d, shipped rules",
      user: SUDO_USER,
      line: `sudo -n -- ${evil}`,
      stdin: grant,
      stat: ["/etc/sudoers.d/evil"],
    },
    {
      id: nextId(),
      what: "dd into sudoers.d, README rules",
      user: README_USER,
      line: `sudo -n -- ${evil}`,
      stdin: grant,
      stat: ["/etc/sudoers.d/evil"],
    },
  ];
}

const isRoot = process.getuid?.() === 0;

/** Why this suite cannot run here, or undefined; throws in CI when sudo is missing. */
function whyNot(): string | undefined {
  if (!isRoot)
    return "needs root: it binds temp copies over /etc/sudoers and friends in a private mount namespace";
  const probe = spawnSync("unshare", ["--mount", "--propagation", "private", "true"], { encoding: "utf8" });
  if (probe.status !== 0) {
    return `mount namespaces are not permitted here (unshare --mount: ${(probe.stderr || probe.error?.message || "").trim()})`;
  }
  try {
    requireProgram("sudo", "sudo");
    requireProgram("visudo", "sudo");
  } catch (err) {
    // In CI nothing may be skipped: the suite fails with requireProgram's install hint.
    if (process.env.CI === "true") throw err;
    return (err as Error).message;
  }
  return undefined;
}

const skipReason = whyNot();
if (skipReason) console.warn(`sudoers.test.ts skipped: ${skipReason}`);

/** Program paths the sudoers file names (the first word of each command). */
function programsOf(sudoers: string): string[] {
  return [...new Set([...sudoers.matchAll(/^\s+(\/\S+) /gm)].map((m) => m[1]!))];
}

/**
 * The script run inside the namespace: mounts, visudo, one `sudo -l` per check, then the exec steps
 * as the test users, with `stat` snapshots taken as root after each.
 */
function namespaceScript(work: string, programs: string[], checks: Check[], steps: ExecStep[]): string {
  const stubDirs = [...new Set(programs.map((p) => dirname(p)))];
  const lines = [
    "set -eu",
    `W=${shellQuote(work)}`,
    // An empty /etc/nova of our own: over a real one, or made in an overlay on /etc when there is none
    // (before the binds below, which an overlay mounted later would hide).
    "if [ ! -d /etc/nova ]; then",
    '  o="$W/etc-overlay"; mkdir -p "$o"; mount -t tmpfs tmpfs "$o"; mkdir "$o/up" "$o/work"',
    '  mount -t overlay overlay -o lowerdir=/etc,upperdir="$o/up",workdir="$o/work" /etc',
    "  mkdir /etc/nova",
    "fi",
    "mount -t tmpfs -o mode=0750 tmpfs /etc/nova",
    // sudo's own state (time stamps) stays in the namespace too.
    "if [ -d /run/sudo ]; then mount -t tmpfs -o mode=0711 tmpfs /run/sudo; fi",
    'for f in sudoers passwd group shadow; do mount --bind "$W/etc/$f" "/etc/$f"; done',
    'mount --bind "$W/etc/sudoers.d" /etc/sudoers.d',
    // Programs the file names that this machine lacks: stubs in an overlay, inside the namespace only.
    "stubbed=''",
    ...stubDirs.map((dir, i) => {
      const missing = programs.filter((p) => dirname(p) === dir);
      return [
        `need=''; for p in ${missing.map(shellQuote).join(" ")}; do [ -x "$p" ] || need="$need $p"; done`,
        `if [ -n "$need" ]; then`,
        `  o="$W/overlay-${i}"; mkdir -p "$o"; mount -t tmpfs tmpfs "$o"; mkdir "$o/up" "$o/work"`,
        `  mount -t overlay overlay -o lowerdir=${shellQuote(dir)},upperdir="$o/up",workdir="$o/work" ${shellQuote(dir)}`,
        `  for p in $need; do printf '#!/bin/sh\\nexit 64\\n' > "$p"; chmod 0755 "$p"; done`,
        `  stubbed="$stubbed$need"`,
        "fi",
      ].join("\n");
    }),
    'printf "%s" "$stubbed" > "$W/stubbed"',
    'visudo -c > "$W/visudo.out" 2>&1 && echo 0 > "$W/visudo.rc" || echo $? > "$W/visudo.rc"',
    "set +e",
    'mkdir "$W/out"',
    'c() { id=$1; shift; sudo -n -l "$@" > "$W/out/$id" 2>&1; echo "$id $?" >> "$W/rc"; }',
    ...checks.map(
      (c) =>
        `c ${c.id} -U ${shellQuote(c.user)}${c.runAs ? ` -u ${shellQuote(c.runAs)}` : ""} -- ${c.argv.map(shellQuote).join(" ")}`,
    ),
    // The steps: each line as the user's login shell would run it from sshd, stdin from a file.
    `chown root:${NOVA_GROUP} /etc/nova`,
    `install -o root -g ${NOVA_GROUP} -m 0640 "$W/nova.conf.original" ${shellQuote(NOVA_CONF)}`,
    'e() { id=$1; u=$2; setpriv --reuid="$u" --regid="$u" --clear-groups -- /bin/sh -c "$3" < "$W/exec/$id.in" > "$W/exec/$id.out" 2> "$W/exec/$id.err"; echo "$id $?" >> "$W/exec/rc"; }',
    `st() { stat -c '%a %U %G %s' -- "$2" > "$W/exec/$1.stat" 2>/dev/null || echo absent > "$W/exec/$1.stat"; }`,
    ...steps.flatMap((step) => [
      `cd / && e ${step.id} ${shellQuote(step.user)} ${shellQuote(step.line)}`,
      ...(step.stat ?? []).map((path, k) => `st ${step.id}-${k} ${shellQuote(path)}`),
    ]),
  ];
  return `${lines.join("\n")}\n`;
}

/** passwd/group/shadow lines for a test user, unless the copy already has one by that name. */
function addUser(etc: string, name: string, id: number): void {
  const passwd = readFileSync(join(etc, "passwd"), "utf8");
  if (passwd.split("\n").some((l) => l.startsWith(`${name}:`))) return;
  writeFileSync(join(etc, "passwd"), `${passwd}${name}:x:${id}:${id}::/nonexistent:/usr/sbin/nologin\n`);
  writeFileSync(join(etc, "group"), `${readFileSync(join(etc, "group"), "utf8")}${name}:x:${id}:\n`);
  writeFileSync(join(etc, "shadow"), `${readFileSync(join(etc, "shadow"), "utf8")}${name}:!:19000::::::\n`, {
    mode: 0o640,
  });
}

/** A group line, unless the copy already has that group. */
function addGroup(etc: string, name: string, id: number): void {
  const group = readFileSync(join(etc, "group"), "utf8");
  if (group.split("\n").some((l) => l.startsWith(`${name}:`))) return;
  writeFileSync(join(etc, "group"), `${group}${name}:x:${id}:\n`);
}

/** A uid/gid free in both passwd and group, for the test users. */
function freeIds(etc: string, count: number): number[] {
  const used = new Set(
    ["passwd", "group"].flatMap((f) =>
      readFileSync(join(etc, f), "utf8")
        .split("\n")
        .map((l) => Number(l.split(":")[2])),
    ),
  );
  const ids: number[] = [];
  for (let id = 64_100; ids.length < count && id < 65_000; id++) if (!used.has(id)) ids.push(id);
  return ids;
}

describe.skipIf(skipReason !== undefined)("deploy/sudoers.d/migbot under real sudo", () => {
  const sudoers = readFileSync(SUDOERS_FILE, "utf8");
  let work = "";
  const samples = catalogueSamples();
  const allowed: { kind: HostCommandKind; check: Check }[] = [];
  const refused: { escape: Escape; check: Check }[] = [];
  const control: { escape: Escape; check: Check }[] = [];
  const answers = new Map<number, Answer>();
  let visudo = { exitCode: -1, output: "" };
  let stubbed: string[] = [];
  let steps: ExecStep[] = [];
  const done = new Map<number, ExecAnswer>();
  let next = 0;
  const check = (user: string, argv: string[], runAs?: string): Check => ({
    id: next++,
    user,
    argv,
    ...(runAs !== undefined && { runAs }),
  });

  beforeAll(() => {
    expect(sudoers).toMatch(new RegExp(`^User_Alias MIGBOT_USERS = ${SUDO_USER}$`, "m"));
    for (const [kind, cmds] of Object.entries(samples) as [HostCommandKind, HostCommand[]][]) {
      for (const cmd of cmds) allowed.push({ kind, check: check(SUDO_USER, sudoArgv(cmd)) });
    }
    for (const esc of ESCAPES) {
      refused.push({ escape: esc, check: check(SUDO_USER, esc.argv, esc.runAs) });
      if (esc.review) control.push({ escape: esc, check: check(README_USER, esc.argv, esc.runAs) });
    }
    work = mkdtempSync(join(tmpdir(), "migbot-sudoers-"));
    const etc = join(work, "etc");
    mkdirSync(join(etc, "sudoers.d"), { recursive: true });
    for (const f of ["sudoers", "passwd", "group", "shadow"]) {
      const mode = f === "sudoers" ? 0o440 : f === "shadow" ? 0o640 : 0o644;
      writeFileSync(join(etc, f), readFileSync(join("/etc", f)), { mode });
    }
    // Only the files under test: rules the machine may have in its own sudoers.d stay out.
    writeFileSync(join(etc, "sudoers.d", "migbot"), sudoers, { mode: 0o440 });
    writeFileSync(join(etc, "sudoers.d", "readme-before"), README_RULES_BEFORE, { mode: 0o440 });
    const [uid1, uid2, gid] = freeIds(etc, 3) as [number, number, number];
    addUser(etc, SUDO_USER, uid1);
    addUser(etc, README_USER, uid2);
    addGroup(etc, NOVA_GROUP, gid);
    writeFileSync(join(work, "nova.conf.original"), ORIGINAL_CONF);
    steps = execSteps(() => next++);
    mkdirSync(join(work, "exec"));
    for (const step of steps) writeFileSync(join(work, "exec", `${step.id}.in`), step.stdin);
    const checks = [
      ...allowed.map((a) => a.check),
      ...refused.map((r) => r.check),
      ...control.map((c) => c.check),
    ];
    const script = join(work, "run.sh");
    writeFileSync(script, namespaceScript(work, programsOf(sudoers), checks, steps));
    const run = spawnSync("unshare", ["--mount", "--propagation", "private", "--", "bash", script], {
      encoding: "utf8",
      timeout: SUDO_RUN_TIMEOUT_MS,
      env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" },
    });
    if (run.status !== 0) throw new Error(`the namespace script failed (${run.status}): ${run.stderr}`);
    visudo = {
      exitCode: Number(readFileSync(join(work, "visudo.rc"), "utf8")),
      output: readFileSync(join(work, "visudo.out"), "utf8"),
    };
    stubbed = readFileSync(join(work, "stubbed"), "utf8").trim().split(/\s+/).filter(Boolean);
    if (stubbed.length > 0)
      console.warn(`sudoers.test.ts: not installed here, stubbed for sudo -l: ${stubbed.join(" ")}`);
    for (const line of readFileSync(join(work, "rc"), "utf8").trim().split("\n")) {
      const [id, code] = line.split(" ").map(Number) as [number, number];
      answers.set(id, { exitCode: code, output: readFileSync(join(work, "out", String(id)), "utf8") });
    }
    const exec = join(work, "exec");
    for (const line of readFileSync(join(exec, "rc"), "utf8").trim().split("\n")) {
      const [id, code] = line.split(" ").map(Number) as [number, number];
      const step = steps.find((st) => st.id === id)!;
      done.set(id, {
        exitCode: code,
        stdout: readFileSync(join(exec, `${id}.out`), "utf8"),
        stderr: readFileSync(join(exec, `${id}.err`), "utf8"),
        stats: (step.stat ?? []).map((_, k) => readFileSync(join(exec, `${id}-${k}.stat`), "utf8").trim()),
      });
    }
  }, SUDO_RUN_TIMEOUT_MS);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const show = (c: Check) =>
    `${c.runAs ? `(as ${c.runAs}) ` : ""}${c.argv.map((w) => JSON.stringify(w)).join(" ")}`;
  /** Allowed: sudo -l exits 0 and prints the resolved command. */
  const isAllowed = (a: Answer | undefined) =>
    a !== undefined && a.exitCode === 0 && a.output.startsWith("/");
  /** Refused by the policy: exit 1 and nothing printed (a missing program would say "command not found"). */
  const isRefused = (a: Answer | undefined) => a !== undefined && a.exitCode === 1 && a.output === "";

  test("visudo -c accepts the shipped file alongside Debian's /etc/sudoers", () => {
    expect(visudo.output).toContain("/etc/sudoers.d/migbot: parsed OK");
    expect(visudo.exitCode).toBe(0);
  });

  test("every command of every catalogue kind is allowed, with the default paths", () => {
    const kinds = Object.keys(samples);
    expect(kinds.every((k) => samples[k as HostCommandKind].length > 0)).toBe(true);
    const denied = allowed
      .filter(({ check: c }) => !isAllowed(answers.get(c.id)))
      .map(({ kind, check: c }) => `${kind}: ${show(c)} → ${answers.get(c.id)?.output.trim() || "refused"}`);
    expect(denied).toEqual([]);
    // Each kind reached sudo, tail up to its largest count.
    expect(new Set(allowed.map((a) => a.kind)).size).toBe(kinds.length);
    expect(allowed.some((a) => a.kind === "tail-log" && a.check.argv[2] === String(MAX_LOG_LINES))).toBe(
      true,
    );
  });

  test("every escape is refused by the policy", () => {
    const through = refused
      .filter(({ check: c }) => !isRefused(answers.get(c.id)))
      .map(
        ({ escape: esc, check: c }) => `${esc.what}: ${show(c)} → ${answers.get(c.id)?.output.trim() || "?"}`,
      );
    expect(through).toEqual([]);
  });

  test("the nova.conf write path runs as migbot through sudo; the temp has the config's owner and mode before the content", () => {
    const by = (what: string) => {
      const step = steps.find((st) => st.what === what)!;
      const answer = done.get(step.id);
      if (answer === undefined) throw new Error(`step '${what}' did not run`);
      return answer;
    };
    const mode = (text: string) => `640 root ${NOVA_GROUP} ${Buffer.byteLength(text)}`;
    for (const step of steps.filter(
      (st) => st.user === SUDO_USER && !st.what.startsWith("cat") && !st.what.startsWith("dd"),
    )) {
      expect({ what: step.what, ...done.get(step.id) }).toMatchObject({
        what: step.what,
        exitCode: 0,
        stderr: "",
      });
    }
    expect(by("read").stdout).toBe(ORIGINAL_CONF);
    expect(by("stat").stdout).toBe(`${mode(ORIGINAL_CONF)}\n`);
    expect(by("back up").stats).toEqual([mode(ORIGINAL_CONF)]);
    // Before a byte of the new content: the original's owner and mode, never the umask's 0644.
    expect(by("temp copy").stats).toEqual([mode(ORIGINAL_CONF)]);
    // dd truncated it, wrote the content from stdin, kept owner and mode.
    expect(by("write the temp").stats).toEqual([mode(EDITED_CONF)]);
    expect(by("rename over").stats).toEqual(["absent", mode(EDITED_CONF)]);
    expect(by("read back").stdout).toBe(EDITED_CONF);
    expect(by("leftover temp").stats).toEqual([mode(EDITED_CONF)]);
    expect(by("remove it").stats).toEqual(["absent"]);
    expect(by("restore: temp from backup").stats).toEqual([mode(ORIGINAL_CONF)]);
    expect(by("restore: rename over").stats).toEqual([mode(ORIGINAL_CONF)]);
    expect(by("read the restored").stdout).toBe(ORIGINAL_CONF);
  });

  test("run for real, the review's dd escape is refused for migbot and wrote sudoers.d under the README's rules", () => {
    const by = (what: string) => done.get(steps.find((st) => st.what === what)!.id)!;
    expect(by("cat shadow")).toMatchObject({ exitCode: 1, stdout: "" });
    expect(by("cat shadow").stderr).toMatch(/^sudo: /);
    const shipped = by("dd into sudoers.d, shipped rules");
    expect(shipped.exitCode).toBe(1);
    expect(shipped.stats).toEqual(["absent"]);
    const before = by("dd into sudoers.d, README rules");
    expect(before.exitCode).toBe(0);
    expect(before.stats).toEqual([`644 root root ${SUDO_USER.length + " ALL=(ALL) NOPASSWD: ALL\n".length}`]);
  });

  test("control: the README's earlier rules allowed the review's escapes, so these checks reach sudo's matching", () => {
    expect(control.length).toBeGreaterThanOrEqual(8);
    const notAllowed = control
      .filter(({ check: c }) => !isAllowed(answers.get(c.id)))
      .map(({ escape: esc, check: c }) => `${esc.what}: ${answers.get(c.id)?.output.trim() || "refused"}`);
    expect(notAllowed).toEqual([]);
  });
});
