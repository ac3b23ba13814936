/**
 * /healthz, /readyz and /metrics over HTTP: as routes the bot's Bolt receiver serves next to
 * /slack/events (HTTP mode), or on a small node:http server of their own (workers, and the bot in
 * Socket Mode, which has no HTTP server otherwise).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../log";
import type { Metrics } from "./metrics";
import type { Readiness } from "./readiness";

/** An orchestrator's probe must not hang the server's shutdown: idle probe connections close at once. */
export const HEALTH_SERVER_CLOSE_TIMEOUT_MS = 2_000;

/** One route, in the shape Bolt's `customRoutes` takes (and the small server below uses). */
export interface HealthRoute {
  path: string;
  method: "GET";
  handler(req: IncomingMessage, res: ServerResponse): void;
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { "content-type": contentType, "cache-control": "no-store" });
  res.end(body);
}

const JSON_TYPE = "application/json; charset=utf-8";

/** The three routes, answering from this process's readiness checks and metrics registry. */
export function healthRoutes(deps: { readiness: Readiness; metrics: Metrics; log: Logger }): HealthRoute[] {
  const failed = (res: ServerResponse, what: string, err: unknown) => {
    deps.log.error(`${what} failed`, { err });
    if (!res.headersSent)
      send(res, 500, JSON_TYPE, JSON.stringify({ status: "error", detail: `${what} failed` }));
  };
  return [
    {
      // Liveness: answering at all shows the event loop turns; nothing outside is asked.
      path: "/healthz",
      method: "GET",
      handler: (_req, res) => send(res, 200, JSON_TYPE, JSON.stringify({ status: "ok" })),
    },
    {
      path: "/readyz",
      method: "GET",
      handler: (_req, res) => {
        deps.readiness.report().then(
          (report) =>
            send(res, report.status === "ready" ? 200 : 503, JSON_TYPE, `${JSON.stringify(report)}\n`),
          (err: unknown) => failed(res, "readiness report", err),
        );
      },
    },
    {
      path: "/metrics",
      method: "GET",
      handler: (_req, res) => {
        deps.metrics.registry.metrics().then(
          (text) => send(res, 200, deps.metrics.registry.contentType, text),
          (err: unknown) => failed(res, "metrics", err),
        );
      },
    },
  ];
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** Serves the routes on `port` (0 = a free one), on every interface so a scraper in another container reaches it. */
export async function startHealthServer(
  port: number,
  routes: HealthRoute[],
  log: Logger,
): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://health").pathname;
    const route = routes.find((r) => r.path === path);
    if (route === undefined)
      return send(
        res,
        404,
        JSON_TYPE,
        JSON.stringify({ status: "not found", paths: routes.map((r) => r.path) }),
      );
    if (req.method !== "GET" && req.method !== "HEAD")
      return send(res, 405, JSON_TYPE, JSON.stringify({ status: "method not allowed" }));
    route.handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new Error(
              `MIGBOT_HEALTH_PORT: port ${port} is already in use; choose another (or stop what holds it)`,
            )
          : err,
      ),
    );
    server.listen(port, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  log.info("health server listening", { port: bound, paths: routes.map((r) => r.path) });
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        // close() stops accepting and ends idle keep-alive connections; a probe still in flight
        // gets its answer, and past the timeout its connection is cut so shutdown is bounded.
        const timer = setTimeout(() => server.closeAllConnections(), HEALTH_SERVER_CLOSE_TIMEOUT_MS);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
