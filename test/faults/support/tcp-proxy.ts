/**
 * A TCP proxy on loopback that sits between migbot and one of its peers (Redis, a compute host's
 * sshd) and breaks the link on demand, the way networks and daemons break it:
 *
 * - `refuse`: the port stops listening (connect → ECONNREFUSED) and open connections are cut;
 * - `drop()`: every open connection is cut at once (a peer restarting, a NAT forgetting);
 * - `hang`: connections stay open and new ones are accepted, but no byte moves either way (a
 *   partition, a stopped process); held bytes are delivered when the link comes back, as TCP's
 *   retransmission would, or thrown away with `discardHeld`;
 * - `delayMs`: every chunk waits this long (a slow link).
 *
 * `watch` sees the bytes the client sends and may act on them before they are forwarded (kill a
 * process on a given command, hold one request's reply): fault cases aimed at one exact step.
 */
import { createServer, type Server, Socket } from "node:net";

export type LinkMode = "pass" | "hang" | "refuse";

/** What a watcher wants done with a chunk the client sent. */
export type WatchVerdict = "forward" | "hold-reply" | "cut";

export interface TcpFaultProxy {
  readonly port: number;
  /** Connections accepted since start. */
  readonly accepted: number;
  readonly mode: LinkMode;
  /** Switches the link's behaviour for open and new connections (see the module comment). */
  setMode(mode: LinkMode, opts?: { discardHeld?: boolean }): Promise<void>;
  /** Cuts every open connection (both sides). */
  drop(): void;
  /** Every chunk, either way, waits this long before it is forwarded. */
  setDelayMs(ms: number): void;
  /**
   * Called with each chunk the client sends (as latin1 text, to match protocol words). "forward"
   * passes it on; "hold-reply" passes it on but holds the server's answers on that connection
   * until {@link releaseReplies}; "cut" cuts that connection without forwarding the chunk.
   */
  watch(fn: ((chunk: string) => WatchVerdict | undefined) | null): void;
  /** Delivers answers held by a "hold-reply" verdict. */
  releaseReplies(): void;
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket;
  held: { to: "client" | "upstream"; chunk: Buffer }[];
  holdReplies: boolean;
}

/** Starts a proxy from a free loopback port (or `port`) to `target`. */
export async function startTcpProxy(
  target: { host: string; port: number },
  port = 0,
): Promise<TcpFaultProxy> {
  const links = new Set<Link>();
  let mode: LinkMode = "pass";
  let delayMs = 0;
  let accepted = 0;
  let watcher: ((chunk: string) => WatchVerdict | undefined) | null = null;
  let server: Server;

  const cut = (link: Link) => {
    links.delete(link);
    link.client.destroy();
    link.upstream.destroy();
  };

  const send = (link: Link, to: "client" | "upstream", chunk: Buffer) => {
    const deliver = () => {
      if (mode === "hang" || (to === "client" && link.holdReplies)) {
        link.held.push({ to, chunk });
        return;
      }
      (to === "client" ? link.client : link.upstream).write(chunk);
    };
    if (delayMs > 0) setTimeout(deliver, delayMs);
    else deliver();
  };

  const onConnection = (client: Socket) => {
    accepted++;
    client.setNoDelay(true);
    const upstream = new Socket();
    const link: Link = { client, upstream, held: [], holdReplies: false };
    links.add(link);
    upstream.setNoDelay(true);
    upstream.connect(target.port, target.host);
    client.on("data", (chunk: Buffer) => {
      const verdict = watcher?.(chunk.toString("latin1")) ?? "forward";
      if (verdict === "cut") return cut(link);
      if (verdict === "hold-reply") link.holdReplies = true;
      send(link, "upstream", chunk);
    });
    upstream.on("data", (chunk: Buffer) => send(link, "client", chunk));
    const end = () => cut(link);
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  };

  const listen = (p: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer(onConnection);
      server.once("error", reject);
      server.listen(p, "127.0.0.1", () => {
        server.off("error", reject);
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : p);
      });
    });
  const closeListener = () => new Promise<void>((resolve) => server.close(() => resolve()));

  const boundPort = await listen(port);

  const flush = (discard: boolean) => {
    for (const link of links) {
      if (link.holdReplies && mode !== "hang") continue;
      const held = link.held.splice(0);
      if (discard) continue;
      for (const { to, chunk } of held) (to === "client" ? link.client : link.upstream).write(chunk);
    }
  };

  return {
    port: boundPort,
    get accepted() {
      return accepted;
    },
    get mode() {
      return mode;
    },
    async setMode(next, opts = {}) {
      if (next === mode) return;
      const was = mode;
      mode = next;
      if (next === "refuse") {
        for (const link of [...links]) cut(link);
        await closeListener();
        return;
      }
      if (was === "refuse") await listen(boundPort);
      if (next === "pass") flush(opts.discardHeld === true);
    },
    drop() {
      for (const link of [...links]) cut(link);
    },
    setDelayMs(ms) {
      delayMs = Math.max(0, ms);
    },
    watch(fn) {
      watcher = fn;
    },
    releaseReplies() {
      for (const link of links) {
        link.holdReplies = false;
        if (mode === "hang") continue;
        for (const { to, chunk } of link.held.splice(0))
          (to === "client" ? link.client : link.upstream).write(chunk);
      }
    },
    async close() {
      watcher = null;
      for (const link of [...links]) cut(link);
      if (mode !== "refuse") await closeListener();
      mode = "refuse";
    },
  };
}
