/**
 * A tiny stand-in for Slack's Web API on loopback: chat.postMessage / chat.update / chat.postEphemeral,
 * sliding-window limits answered with HTTP 429 + Retry-After, and injectable faults. Enough to hold
 * the notifier to Slack's contract until the sandbox emulator lands.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface StubLimit {
  limit: number;
  windowMs: number;
}

export interface StubLimits {
  /** chat.postMessage, counted per channel. */
  postMessagePerChannel?: StubLimit;
  /** chat.update, counted per workspace. */
  updatePerWorkspace?: StubLimit;
}

export type Fault =
  | { kind: "status"; status: number }
  | { kind: "error"; error: string }
  | { kind: "ratelimit"; retryAfterS: number };

export interface StubCall {
  method: string;
  channel: string;
  at: number;
  status: number;
  text?: string;
}

export interface StubMessage {
  ts: string;
  text: string;
  thread_ts?: string;
  edits: number;
}

export interface SlackStub {
  apiUrl: string;
  calls: StubCall[];
  messages(channel: string): StubMessage[];
  /** The next `times` calls of `method` in `channel` get `fault` instead of being served. */
  inject(method: string, channel: string, fault: Fault, times?: number): void;
  count(filter: Partial<Pick<StubCall, "method" | "channel" | "status">>): number;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString("utf8");
  if ((req.headers["content-type"] ?? "").includes("application/json")) return JSON.parse(raw);
  return Object.fromEntries(new URLSearchParams(raw));
}

export async function startSlackStub(limits: StubLimits = {}): Promise<SlackStub> {
  const calls: StubCall[] = [];
  const messages = new Map<string, StubMessage[]>();
  const served = new Map<string, number[]>();
  const faults = new Map<string, { fault: Fault; times: number }>();
  let seq = 0;

  /** Sliding window: how long until one more call fits, 0 if it fits now (and records it). */
  const admit = (bucket: string, limit: StubLimit | undefined, now: number): number => {
    if (!limit) return 0;
    const times = (served.get(bucket) ?? []).filter((t) => now - t < limit.windowMs);
    served.set(bucket, times);
    if (times.length >= limit.limit) return limit.windowMs - (now - times[0]!);
    times.push(now);
    return 0;
  };

  const server: Server = createServer(async (req, res) => {
    const method = (req.url ?? "").replace(/^\/api\//, "").replace(/\?.*$/, "");
    const body = await readBody(req);
    const channel = body.channel ?? "";
    const now = Date.now();
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      calls.push({ method, channel, at: now, status, text: body.text });
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(payload));
    };
    const faultKey = `${method}:${channel}`;
    const f = faults.get(faultKey);
    if (f && f.times > 0) {
      f.times--;
      if (f.fault.kind === "status") return reply(f.fault.status, { ok: false });
      if (f.fault.kind === "error") return reply(200, { ok: false, error: f.fault.error });
      return reply(429, { ok: false, error: "ratelimited" }, { "retry-after": String(f.fault.retryAfterS) });
    }
    let waitMs = 0;
    if (method === "chat.postMessage") waitMs = admit(`post:${channel}`, limits.postMessagePerChannel, now);
    if (method === "chat.update") waitMs = admit("update", limits.updatePerWorkspace, now);
    if (waitMs > 0) {
      return reply(
        429,
        { ok: false, error: "ratelimited" },
        { "retry-after": String(Math.ceil(waitMs / 1000)) },
      );
    }
    const list = messages.get(channel) ?? [];
    messages.set(channel, list);
    if (method === "chat.postMessage") {
      seq++;
      const ts = `1700000000.${String(seq).padStart(6, "0")}`;
      list.push({ ts, text: body.text ?? "", thread_ts: body.thread_ts, edits: 0 });
      return reply(200, { ok: true, channel, ts });
    }
    if (method === "chat.update") {
      const m = list.find((x) => x.ts === body.ts);
      if (!m) return reply(200, { ok: false, error: "message_not_found" });
      m.text = body.text ?? "";
      m.edits++;
      return reply(200, { ok: true, channel, ts: m.ts });
    }
    if (method === "chat.postEphemeral") return reply(200, { ok: true, message_ts: "1700000000.999999" });
    return reply(200, { ok: false, error: "unknown_method" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    calls,
    messages: (channel) => messages.get(channel) ?? [],
    inject: (method, channel, fault, times = 1) => faults.set(`${method}:${channel}`, { fault, times }),
    count: (filter) =>
      calls.filter(
        (c) =>
          (filter.method === undefined || c.method === filter.method) &&
          (filter.channel === undefined || c.channel === filter.channel) &&
          (filter.status === undefined || c.status === filter.status),
      ).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
