/**
 * An HTTP proxy on loopback in front of an API migbot calls (the sandbox's Keystone + Nova, the
 * Slack emulator), which answers chosen requests with the failures real services give: an HTTP
 * status (5xx, 401 for a token Keystone no longer honours), a connection cut before the request
 * reaches the service, a cut after the service carried it out (the answer is lost), an answer that
 * never comes (a timeout, with or without the service having carried the request out), or a
 * refused port. Every other request is forwarded unchanged, and the upstream's own address in
 * answers (Keystone's catalog, links) is rewritten to the proxy's, so the client keeps coming back
 * through it.
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** What the proxy does with a request a rule matched. */
export type HttpFault =
  | { kind: "status"; status: number; body?: unknown; headers?: Record<string, string> }
  /** The connection is cut before anything is forwarded: the service never sees the request. */
  | { kind: "reset" }
  /** The request is carried out upstream, then the connection is cut: the client never learns it. */
  | { kind: "reset-after-forward" }
  /** No answer ever comes (until the client gives up); `forward` says whether the service got it. */
  | { kind: "hang"; forward: boolean }
  | { kind: "delay"; ms: number };

export interface SeenRequest {
  method: string;
  path: string;
  body: string;
}

export interface HttpFaultRule {
  match: (req: SeenRequest) => boolean;
  fault: HttpFault;
  /** How many matching requests get the fault. @defaultValue 1 */
  times?: number;
}

export interface ProxyRecord extends SeenRequest {
  /** The upstream's status, or the fault served instead. */
  outcome: number | HttpFault["kind"];
  /** Whether the request reached the upstream service. */
  forwarded: boolean;
}

export interface HttpFaultProxy {
  /** `http://127.0.0.1:PORT`: put this where the upstream's origin would go. */
  origin: string;
  /** Serves `fault` to the next `times` requests `match` accepts; rules are tried in order. */
  inject(rule: HttpFaultRule): void;
  /** Drops every rule not used up yet. */
  clear(): void;
  /** `true` closes the port (connection refused) and cuts open connections; `false` reopens it. */
  refuse(on: boolean): Promise<void>;
  /** Every request seen, in order. */
  readonly log: ProxyRecord[];
  close(): Promise<void>;
}

/** Longest request body the proxy buffers; the APIs behind it take far less. */
const MAX_PROXIED_BODY_BYTES = 8 * 1024 * 1024;

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > MAX_PROXIED_BODY_BYTES) throw new Error("body too large for the fault proxy");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Starts a fault proxy in front of `upstreamOrigin` (e.g. `http://127.0.0.1:41234`), or of the
 * origin a function gives at each request (for an upstream that starts after its clients are configured).
 */
export async function startHttpFaultProxy(
  upstreamOrigin: string | (() => string),
  port = 0,
): Promise<HttpFaultProxy> {
  const upstreamOf = () => new URL(typeof upstreamOrigin === "string" ? upstreamOrigin : upstreamOrigin());
  const rules: (HttpFaultRule & { left: number })[] = [];
  const log: ProxyRecord[] = [];
  const sockets = new Set<Socket>();
  let origin = "";
  let server: Server;

  const forward = (
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const upstream = upstreamOf();
      const headers = { ...req.headers, host: upstream.host };
      delete headers["content-length"];
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...headers, "content-length": String(body.length) },
        },
        (res) => {
          readAll(res)
            .then((b) => {
              const h: Record<string, string> = {};
              for (const [k, v] of Object.entries(res.headers)) {
                if (v === undefined || k === "content-length" || k === "transfer-encoding") continue;
                h[k] = Array.isArray(v) ? v.join(", ") : v;
              }
              resolve({ status: res.statusCode ?? 502, headers: h, body: b });
            })
            .catch(reject);
        },
      );
      out.on("error", reject);
      out.end(body);
    });

  const rewrite = (text: string) => text.split(upstreamOf().origin).join(origin);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readAll(req);
    const seen: SeenRequest = {
      method: req.method ?? "GET",
      path: req.url ?? "/",
      body: body.toString("utf8"),
    };
    const rule = rules.find((r) => r.left > 0 && r.match(seen));
    const fault = rule?.fault;
    if (rule) rule.left--;
    const record = (outcome: ProxyRecord["outcome"], forwarded: boolean) =>
      log.push({ ...seen, outcome, forwarded });

    if (fault?.kind === "status") {
      record(fault.status, false);
      res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers });
      res.end(fault.body === undefined ? "" : JSON.stringify(fault.body));
      return;
    }
    if (fault?.kind === "reset") {
      record("reset", false);
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "hang" && !fault.forward) {
      record("hang", false);
      return;
    }
    if (fault?.kind === "delay") await new Promise((r) => setTimeout(r, fault.ms));
    const answer = await forward(req, body);
    if (fault?.kind === "reset-after-forward") {
      record("reset-after-forward", true);
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "hang") {
      record("hang", true);
      return;
    }
    record(answer.status, true);
    const text = rewrite(answer.body.toString("utf8"));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(answer.headers)) headers[k] = rewrite(v);
    res.writeHead(answer.status, headers);
    res.end(text);
  };

  const listen = (p: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer((req, res) => {
        handle(req, res).catch(() => {
          if (!res.headersSent) res.writeHead(502).end();
          else req.socket.destroy();
        });
      });
      server.on("connection", (s: Socket) => {
        sockets.add(s);
        s.once("close", () => sockets.delete(s));
      });
      server.once("error", reject);
      server.listen(p, "127.0.0.1", () => {
        server.off("error", reject);
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : p);
      });
    });
  const stop = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  const boundPort = await listen(port);
  origin = `http://127.0.0.1:${boundPort}`;
  let refused = false;

  return {
    origin,
    log,
    inject(rule) {
      rules.push({ ...rule, left: rule.times ?? 1 });
    },
    clear() {
      rules.splice(0);
    },
    async refuse(on) {
      if (on === refused) return;
      refused = on;
      if (on) await stop();
      else await listen(boundPort);
    },
    async close() {
      rules.splice(0);
      if (!refused) await stop();
      refused = true;
    },
  };
}
