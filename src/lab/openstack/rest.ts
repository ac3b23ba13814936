/**
 * The few OpenStack REST calls `lab up --openstack` makes as the cloud's admin: Keystone (service
 * project, users, roles, catalog), Glance (the guest images) and Nova (flavor, services,
 * hypervisors). Plain fetch to the bridge address; every call bounded in time.
 */
import { LabError } from "../errors";
import { AUTH_URL } from "./layout";

/** One REST call to a service on the lab bridge; they answer in well under a second when idle. */
export const REST_TIMEOUT_MS = 30_000;

export interface RestAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface RestCall {
  method?: string;
  token?: string;
  body?: unknown;
  /** Raw bytes (Glance image data), sent as application/octet-stream. */
  bytes?: Uint8Array;
  /** `OpenStack-API-Version: compute X.Y`. */
  computeMicroversion?: string;
  /** Statuses that are not an error. @defaultValue any 2xx */
  ok?: (status: number) => boolean;
}

/** One call; throws LAB_COMMAND_FAILED with the service's own message unless the status is ok. */
export async function rest(url: string, call: RestCall = {}): Promise<RestAnswer> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (call.token !== undefined) headers["X-Auth-Token"] = call.token;
  if (call.computeMicroversion !== undefined) {
    headers["OpenStack-API-Version"] = `compute ${call.computeMicroversion}`;
  }
  let body: string | Uint8Array | undefined;
  if (call.bytes !== undefined) {
    headers["Content-Type"] = "application/octet-stream";
    body = call.bytes;
  } else if (call.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(call.body);
  }
  const method = call.method ?? (body === undefined ? "GET" : "POST");
  let response: Response;
  try {
    response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(REST_TIMEOUT_MS) });
  } catch (err) {
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `${method} ${url} failed: ${(err as Error).message} — is the service up? its log is in <state dir>/openstack/log`,
    );
  }
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === "" ? null : JSON.parse(text);
  } catch {
    // Not JSON (an HTML error page): keep the text for the message.
  }
  const ok = call.ok ?? ((s: number) => s >= 200 && s < 300);
  if (!ok(response.status)) {
    throw new LabError(
      "LAB_COMMAND_FAILED",
      `${method} ${url} answered HTTP ${response.status}: ${text.slice(0, 400)} — see the service's log in <state dir>/openstack/log`,
    );
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** A token scoped to project `admin` for user `admin` (the one `keystone-manage bootstrap` made). */
export async function adminToken(password: string): Promise<string> {
  const answer = await rest(`${AUTH_URL}/auth/tokens`, {
    body: {
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name: "admin", domain: { id: "default" }, password } },
        },
        scope: { project: { name: "admin", domain: { id: "default" } } },
      },
    },
  });
  const token = answer.headers.get("x-subject-token");
  if (token === null) throw new LabError("LAB_COMMAND_FAILED", "Keystone issued no X-Subject-Token");
  return token;
}

/** `body[key].id` of a create answer. */
export function createdId(answer: RestAnswer, key: string): string {
  const id = (answer.body as Record<string, { id?: unknown }> | null)?.[key]?.id;
  if (typeof id !== "string")
    throw new LabError("LAB_COMMAND_FAILED", `no ${key}.id in ${JSON.stringify(answer.body)}`);
  return id;
}
