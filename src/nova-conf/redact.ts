import { pyRstrip, pyStrip, splitKeyValue } from "./document";

/**
 * Masks secrets in nova.conf text meant for people (diffs in Slack, the audit stream, the CLI).
 * The files on the hosts are never touched by this: it only changes what is shown.
 *
 * Lines are read the way oslo.config reads them (see document.ts): the key is what comes before
 * the first ':' or '=' (`key: value` is an assignment too), and a line starting with a space or
 * tab continues the previous value. So:
 * - the value of every option named in {@link SECRET_OPTION_NAMES}, or whose name looks like a
 *   secret ({@link SECRET_NAME_HINT_RE}), is replaced whole, with all its continuation lines;
 * - commented-out assignments (`#password = x`, `# admin_password: x`) are masked the same way,
 *   except oslo-config-generator's empty placeholders (`#password = <None>`);
 * - a continuation line is shown only when the option it continues is known not to be secret; at
 *   the top of a diff hunk the owner is unknown, so it is masked;
 * - a line oslo.config could not parse at all (no ':' or '=') is masked: it may be a stray secret;
 * - a `[section]` line that is not a clean header is masked;
 * - everywhere else (other options' values, comments, public continuation lines) two nets still
 *   apply: the password of any `scheme://user:password@host` URL, multi-host ones included, and
 *   whatever follows a secret-looking `name =` or `name:` (`?password=…`, `# old password: …`).
 */
export const REDACTED = "<redacted>";

/**
 * Options whose values are secrets, by the name written in the file (lower-case, '-' as '_', the
 * way oslo.config turns a keystoneauth option like `client-secret` into `client_secret`).
 * Matched in every section: keystoneauth's options live in whatever section a service names
 * (`[neutron]`, `[placement]`, `[service_user]`, or any `auth_section`), and no option of nova's
 * namespaces reuses one of these names for something public.
 *
 * From `secret=True` in the sources nova-compute's nova.conf draws on, at nova 26.2.2 (Zed) with
 * openstack/requirements zed-eom upper-constraints, and nova 13.0.0 (Mitaka) with mitaka-eol's:
 */
const SECRET_OPTIONS_MARKED_UPSTREAM: Record<string, readonly string[]> = {
  // openstack/nova 26.2.2: nova/conf/key_manager.py, nova/conf/neutron.py, nova/conf/vmware.py
  "nova 26.2.2": ["fixed_key", "metadata_proxy_shared_secret", "host_password"],
  // openstack/nova 13.0.0 (Mitaka options outside nova/conf): nova/api/metadata/handler.py,
  // nova/conf/ironic.py, nova/db/sqlalchemy/api.py, nova/network/ldapdns.py,
  // nova/virt/vmwareapi/driver.py, nova/virt/xenapi/driver.py
  "nova 13.0.0": [
    "metadata_proxy_shared_secret",
    "admin_password",
    "admin_auth_token",
    "connection",
    "slave_connection",
    "ldap_dns_password",
    "host_password",
    "connection_password",
  ],
  // openstack/oslo.db 12.1.1 (Zed) and 4.7.1 (Mitaka), oslo_db/options.py; nova 26.2.2
  // nova/conf/database.py copies them into [database] and [api_database]. `sql_connection` is
  // connection's deprecated name ([DEFAULT], [DATABASE]).
  "oslo.db 12.1.1, 4.7.1": ["connection", "sql_connection", "slave_connection"],
  // openstack/oslo.messaging 14.0.3 (Zed): oslo_messaging/transport.py, notify/notifier.py
  // (deprecated name notification_transport_url), _drivers/amqp1_driver/opts.py
  "oslo.messaging 14.0.3": ["transport_url", "notification_transport_url", "ssl_key_password"],
  // openstack/oslo.messaging 4.6.1 (Mitaka): _drivers/impl_rabbit.py, _drivers/protocols/amqp/opts.py,
  // _drivers/zmq_driver/matchmaker/matchmaker_redis.py
  "oslo.messaging 4.6.1": ["rabbit_password", "password", "ssl_key_password"],
  // openstack/keystoneauth 5.0.1 (Zed) and 2.4.3 (Mitaka): keystoneauth1/loading/_plugins/
  // admin_token.py, http_basic.py, identity/generic.py, identity/v2.py, identity/v3.py (`code` was
  // `authorization-code` in 2.4.3 and stays its deprecated name), extras/_saml2/_loading.py
  "keystoneauth1 5.0.1, 2.4.3": [
    "password",
    "token",
    "client_secret",
    "code",
    "authorization_code",
    "access_token",
    "passcode",
    "application_credential_secret",
  ],
  // openstack/keystonemiddleware 10.1.1 (Zed) and 4.4.1 (Mitaka): auth_token/_auth.py,
  // auth_token/_opts.py (4.4.1: auth_token/__init__.py), audit/__init__.py
  "keystonemiddleware 10.1.1, 4.4.1": [
    "admin_token",
    "admin_password",
    "memcache_secret_key",
    "transport_url",
  ],
  // openstack/oslo.cache 3.2.0 (Zed) and 1.6.0 (Mitaka), oslo_cache/_opts.py: its values are
  // `name:value` pairs such as `url:redis://:password@host`
  "oslo.cache 3.2.0, 1.6.0": ["backend_argument"],
  // openstack/castellan 4.0.0 (Zed), castellan/common/utils.py ([key_manager])
  "castellan 4.0.0": ["token", "password"],
};

/**
 * Credentials upstream did not mark `secret=True` (oslo.config would log them in clear), listed so
 * that migbot does not show them either.
 */
const SECRET_OPTIONS_NOT_MARKED_UPSTREAM: Record<string, readonly string[]> = {
  // openstack/oslo.cache 3.2.0 oslo_cache/_opts.py: the SASL password of memcached
  "oslo.cache 3.2.0": ["memcache_password"],
  // openstack/castellan 4.0.0 castellan/key_manager/vault_key_manager.py ([vault])
  "castellan 4.0.0": ["root_token_id", "approle_secret_id"],
  // openstack/oslo.messaging 14.0.3 _drivers/kafka_driver/kafka_options.py
  "oslo.messaging 14.0.3": ["ssl_client_key_password"],
  // openstack/keystoneauth 5.0.1 keystoneauth1/extras/oauth1/_loading.py
  "keystoneauth1 5.0.1": ["consumer_secret", "access_secret"],
  // openstack/osprofiler 3.4.3 osprofiler/opts.py ([profiler]): the HMAC keys that authorize
  // profiling, and a connection string that may carry a password (redis://:password@host)
  "osprofiler 3.4.3": ["hmac_keys", "connection_string"],
};

/** Every option name whose value migbot never shows (see the sources above). */
export const SECRET_OPTION_NAMES: ReadonlySet<string> = new Set(
  [
    ...Object.values(SECRET_OPTIONS_MARKED_UPSTREAM),
    ...Object.values(SECRET_OPTIONS_NOT_MARKED_UPSTREAM),
  ].flat(),
);

/**
 * The second net: names that look like secrets. The list above only knows nova's own namespaces;
 * nova.conf also carries out-of-tree drivers' and plugins' options, options of library releases
 * newer than the ones read, and operators' own misspellings, and a secret among those must not
 * leak either. A false positive costs one hidden value in a diff's context line; no option
 * migbot edits matches it.
 */
const SECRET_NAME_HINT_RE =
  /passw|passphrase|passcode|pwd|secret|token|credential|private|(?:^|_)keys?$|^pass$/;

/**
 * Options whose names trip {@link SECRET_NAME_HINT_RE} but whose values are not secrets, so they
 * stay readable: every such option of the Zed sample (oslo-config-generator output of nova 26.2.2,
 * ../shared/fixtures/nova-conf/nova.conf.sample-zed-26.2.2-debian-bookworm.conf), with the type the
 * sample gives it: booleans, integers, a role list, a bind mode, file paths ([DEFAULT] key,
 * [vnc] vencrypt_client_key), the UUID naming a libvirt secret, and Ironic's conductor group.
 */
const PUBLIC_OPTION_NAMES: ReadonlySet<string> = new Set([
  "allow_credentials",
  "config_drive_inject_password",
  "enable_instance_password",
  "enforce_token_bind",
  "inject_key",
  "inject_password",
  "key",
  "partition_key",
  "password_length",
  "rbd_secret_uuid",
  "send_service_user_token",
  "service_token_roles",
  "service_token_roles_required",
  "token_cache_time",
  "token_ttl",
  "vencrypt_client_key",
]);

function normalizeName(name: string): string {
  return name
    .replace(/\uFEFF/g, "")
    .trim()
    .toLowerCase()
    .replace(/-/g, "_");
}

/**
 * True when an option of this name holds a secret: by the list, else unless known public, by the
 * look of its name. With `prose` (a comment), only the word before the separator counts, so that
 * help text ("type of token binding. Can be set to: …") is not taken for an assignment.
 */
export function isSecretOption(key: string, opts: { prose?: boolean } = {}): boolean {
  const name = normalizeName(key);
  const words = name.split(/[^a-z0-9_.]+/).filter((w) => w !== "");
  const last = words[words.length - 1] ?? "";
  // `vnc.vencrypt_client_key`, `keystone_authtoken.password`: a group-qualified name.
  const bare = (w: string) => w.slice(w.lastIndexOf(".") + 1);
  if ([name, last, bare(last)].some((c) => SECRET_OPTION_NAMES.has(c))) return true;
  // Only the name itself can be known public: `private key` is not `key`.
  const subject = opts.prose ? last : name;
  if (PUBLIC_OPTION_NAMES.has(subject) || PUBLIC_OPTION_NAMES.has(bare(subject))) return false;
  return SECRET_NAME_HINT_RE.test(subject);
}

/** Who the next continuation line belongs to. */
type Owner =
  /** Nothing: a continuation line here is an oslo.config error (and shown masked). */
  | "none"
  /** An option that is not secret. */
  | "public"
  | "secret"
  /** Not known (the top of a diff hunk). */
  | "unknown";

const LEADING_BLANKS_RE = /^[ \t]*/;

function maskWhole(body: string): string {
  return `${LEADING_BLANKS_RE.exec(body)![0]}${REDACTED}`;
}

/**
 * Masks the password of a `scheme://user:password@host` URL: from the first ':' after `://` to the
 * LAST '@' of the line, which also covers a password holding '@', ':', '/' or spaces, and every
 * host of a multi-host URL (`rabbit://u:p1@a,u:p2@b//`). A URL without a ':' before its last '@'
 * has no password. Linear: two index scans.
 */
function maskUrlCredentials(s: string): string {
  const at = s.lastIndexOf("@");
  if (at < 0) return s;
  const scheme = s.indexOf("://");
  if (scheme < 0 || scheme + 3 > at) return s;
  const colon = s.indexOf(":", scheme + 3);
  if (colon < 0 || colon > at) return s;
  return `${s.slice(0, colon + 1)}${REDACTED}${s.slice(at)}`;
}

const NAME_CHAR_RE = /[A-Za-z0-9_.-]/;
const BLANK_RE = /\s/;

/**
 * Masks the rest of the text after the first `name = …` or `name: …` whose name looks secret,
 * wherever it stands: a comment (`#password = x`, `# the db password: x`), a query string
 * (`?token=x`), a value continued over lines. One pass: each separator looks back over the
 * blanks and the name just before it, and those runs do not overlap.
 */
function maskSecretAssignments(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== "=" && s[i] !== ":") continue;
    let nameEnd = i;
    while (nameEnd > 0 && BLANK_RE.test(s[nameEnd - 1]!)) nameEnd--;
    let nameStart = nameEnd;
    while (nameStart > 0 && NAME_CHAR_RE.test(s[nameStart - 1]!)) nameStart--;
    if (nameStart === nameEnd || !isSecretOption(s.slice(nameStart, nameEnd), { prose: true })) continue;
    const rest = s.slice(i + 1);
    if (isPlaceholder(rest)) continue;
    return `${s.slice(0, i + 1)}${LEADING_BLANKS_RE.exec(rest)![0]}${REDACTED}`;
  }
  return s;
}

function maskNets(text: string): string {
  return maskSecretAssignments(maskUrlCredentials(text));
}

/** `line` split as oslo.config splits an assignment, with its value masked. */
function maskValue(line: string, kv: { value: string }): string {
  if (pyStrip(kv.value) === "") return line;
  const sepAt = line.length - kv.value.length - 1;
  return `${line.slice(0, sepAt + 1)}${LEADING_BLANKS_RE.exec(kv.value)![0]}${REDACTED}`;
}

/** An option that is not secret: its key as written, its value through the nets. */
function maskPublicValue(line: string, kv: { value: string }): string {
  const sepAt = line.length - kv.value.length - 1;
  return `${line.slice(0, sepAt + 1)}${maskNets(kv.value)}`;
}

// oslo-config-generator's way of writing "no default": nothing to hide.
function isPlaceholder(value: string): boolean {
  const v = pyStrip(value);
  return v === "" || v === "<None>";
}

/** One physical line (no line ending) as shown, given who owns a continuation here. */
function showLine(body: string, owner: Owner): { shown: string; owner: Owner } {
  const line = pyRstrip(body);
  if (line === "") return { shown: body, owner: "none" };
  if (line.startsWith(" ") || line.startsWith("\t")) {
    return { shown: owner === "public" ? maskNets(body) : maskWhole(body), owner };
  }
  if (line.startsWith("[")) {
    // A clean `[name]` header is shown; anything else oslo.config rejects, and may hold a value.
    const clean = line.endsWith("]") && !/[=:]/.test(line);
    return { shown: clean ? body : maskWhole(body), owner: "none" };
  }
  if (line.startsWith("#") || line.startsWith(";")) return { shown: maskNets(body), owner: "none" };
  const kv = splitKeyValue(line);
  if (!kv) return { shown: maskWhole(body), owner: "none" };
  if (isSecretOption(kv.key)) return { shown: maskValue(line, kv), owner: "secret" };
  return { shown: maskPublicValue(line, kv), owner: "public" };
}

const EOL_RE = /\r\n|\n|\r/g;

/** Splits text into lines that keep their own endings ("\r\n", "\n", "\r", or none at the end). */
function splitKeepingEols(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  EOL_RE.lastIndex = 0;
  for (let m = EOL_RE.exec(text); m !== null; m = EOL_RE.exec(text)) {
    out.push(text.slice(start, m.index + m[0].length));
    start = m.index + m[0].length;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

function eolOf(line: string): string {
  if (line.endsWith("\r\n")) return "\r\n";
  if (line.endsWith("\n")) return "\n";
  return line.endsWith("\r") ? "\r" : "";
}

/**
 * The lines of one whole file (each with or without its line ending), as shown: same count, same
 * line endings, secrets masked. Knowing the whole file, it knows who every continuation line belongs to.
 */
export function redactConfLines(lines: readonly string[]): string[] {
  let owner: Owner = "none";
  return lines.map((raw) => {
    const eol = eolOf(raw);
    const r = showLine(raw.slice(0, raw.length - eol.length), owner);
    owner = r.owner;
    return r.shown + eol;
  });
}

/** A whole nova.conf-style file, as shown (line count and line endings kept). */
export function redactConfText(text: string): string {
  return redactConfLines(splitKeepingEols(text)).join("");
}

/**
 * A unified diff of nova.conf-style files, as shown. Headers (`---`, `+++` before the first hunk,
 * `@@`) and "\ No newline" notes are kept; each side's lines are read as that side's file. Without
 * the files, a continuation line at the top of a hunk has an unknown owner and is masked; a diff
 * made with {@link unifiedDiff}'s `redactSecrets` knows the owners.
 */
export function redactConfDiff(diff: string): string {
  let inHunk = false;
  let oldOwner: Owner = "unknown";
  let newOwner: Owner = "unknown";
  return splitKeepingEols(diff)
    .map((raw) => {
      const eol = eolOf(raw);
      const line = raw.slice(0, raw.length - eol.length);
      if (line.startsWith("@@")) {
        inHunk = true;
        oldOwner = "unknown";
        newOwner = "unknown";
        return raw;
      }
      if (!inHunk && (line.startsWith("--- ") || line.startsWith("+++ "))) return raw;
      if (line.startsWith("\\")) return raw;
      if (line === "") {
        // Some tools write an empty context line without its ' '.
        oldOwner = "none";
        newOwner = "none";
        return raw;
      }
      const marker = line.slice(0, 1);
      const body = line.slice(1);
      if (marker === "-" || marker === "+") {
        const r = showLine(body, marker === "-" ? oldOwner : newOwner);
        if (marker === "-") oldOwner = r.owner;
        else newOwner = r.owner;
        return `${marker}${r.shown}${eol}`;
      }
      if (marker === " ") {
        const o = showLine(body, oldOwner);
        const n = showLine(body, newOwner);
        oldOwner = o.owner;
        newOwner = n.owner;
        // The two sides disagree only when the line continues different options: show the stricter.
        return ` ${o.shown === n.shown ? o.shown : maskWhole(body)}${eol}`;
      }
      // Not a diff line at all: show nothing of it.
      return `${REDACTED}${eol}`;
    })
    .join("");
}

/**
 * A value about to be quoted in a message (an error, a warning): the value itself when the option
 * is not secret and it holds no URL password, else masked.
 */
export function shownValue(key: string, value: string): string {
  if (isSecretOption(key)) return value === "" ? value : REDACTED;
  return value
    .split("\n")
    .map((v) => maskNets(v))
    .join("\n");
}
