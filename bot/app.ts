/**
 * The Bolt app: slash commands and button actions, over HTTP (signing secret) or Socket Mode (app
 * token). It parses, authorizes, enqueues and acks; all real work happens on the workers.
 */
import type { Server } from "node:http";
import { App, type Logger as BoltLogger, type CustomRoute, HTTPReceiver, LogLevel } from "@slack/bolt";
import type { Redis } from "ioredis";
import type { Config } from "../src/config";
import type { Logger } from "../src/log";
import type { MigrationStore } from "../src/migration/store";
import { type Enqueuer, idempotencyKey } from "../src/queue/jobs";
import { AccessControl, refusal } from "./access";
import { type CommandDeps, handleDiagnose, handleMigrate } from "./commands/migrate";
import { type HomeOpened, registerHomeEvents } from "./events/home";
import { ACTION_ABORT, ACTION_FORCE_COMPLETE } from "./render/migration";
import { ACTION_PREDICT_FIX_FIRST, ACTION_PREDICT_GO_ANYWAY } from "./render/prediction";

/** What each migration button does, for a refusal ("only operators may …"). */
const CONTROL_WORDS = {
  abort: "abort a migration",
  "force-complete": "force-complete a migration",
  "fix-first": "choose Fix first for a migration",
  "go-anyway": "start a migration predicted not to converge",
} as const;

export interface BotOptions {
  config: Config;
  enqueue: Enqueuer;
  store: MigrationStore;
  redis: Redis;
  log: Logger;
  /** HTTP port (HTTP transport); 0 = a free port. */
  port?: number;
  /** The Home tab: shown when someone opens it (app_home_opened). */
  home?: HomeOpened;
  /** Hook for approval buttons (issue: fixes behind approval). */
  registerExtra?: (app: App, deps: CommandDeps) => void;
  /** More routes on the HTTP receiver (HTTP transport only): /healthz, /readyz, /metrics. */
  customRoutes?: CustomRoute[];
  /** The fetch under Bolt's Web API client (the composition root counts Slack calls through it). */
  slackFetch?: typeof fetch;
}

/**
 * At shutdown, requests and listeners still running get this long to finish (Slack gives an ack 3 s;
 * the work after it, an enqueue or a response_url reply, takes milliseconds); then connections are cut.
 */
export const BOT_DRAIN_TIMEOUT_MS = 10_000;

export interface Bot {
  app: App;
  /** The HTTP receiver's URL for slash commands and interactivity (HTTP transport only). */
  url: string | null;
  stop(): Promise<void>;
}

function boltLogger(log: Logger): BoltLogger {
  let level: LogLevel = LogLevel.INFO;
  return {
    debug: (...m: unknown[]) => log.debug(m.map(String).join(" ")),
    info: (...m: unknown[]) => log.info(m.map(String).join(" ")),
    warn: (...m: unknown[]) => log.warn(m.map(String).join(" ")),
    error: (...m: unknown[]) => log.error(m.map(String).join(" ")),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

/** Builds and starts the Bolt app. */
export async function startBot(opts: BotOptions): Promise<Bot> {
  const { config, log } = opts;
  const slack = config.slack;
  const logger = boltLogger(log.child({ component: "bolt" }));
  const clientOptions = {
    ...(slack.apiUrl ? { slackApiUrl: slack.apiUrl } : {}),
    ...(opts.slackFetch && { fetch: opts.slackFetch }),
  };
  let app: App;
  let receiver: HTTPReceiver | null = null;
  if (slack.transport === "socket") {
    app = new App({
      token: slack.botToken!,
      appToken: slack.appToken!,
      socketMode: true,
      logger,
      clientOptions,
    });
  } else {
    receiver = new HTTPReceiver({
      signingSecret: slack.signingSecret!,
      endpoints: "/slack/events",
      ...(opts.customRoutes && { customRoutes: opts.customRoutes }),
      logger,
      processBeforeResponse: false,
    });
    app = new App({ token: slack.botToken!, receiver, logger, clientOptions });
  }

  // Listeners still running (a command's enqueue, a button's work after its ack): stop() waits for them.
  const inFlight = new Set<Promise<void>>();
  app.use(async ({ next }) => {
    const running = next();
    inFlight.add(running);
    try {
      await running;
    } finally {
      inFlight.delete(running);
    }
  });

  const access = new AccessControl(
    config.access,
    async (group) => {
      const res = await app.client.usergroups.users.list({ usergroup: group });
      return res.users ?? [];
    },
    log,
  );
  const deps: CommandDeps = {
    access,
    enqueue: opts.enqueue,
    channelOf: async (jobId) => (await opts.store.load(jobId))?.view.channel ?? null,
    log,
  };

  app.command("/migrate", async ({ command, ack }) => {
    await handleMigrate(command, (r) => ack(r), deps);
  });
  app.command("/diagnose", async ({ command, ack }) => {
    await handleDiagnose(command, (r) => ack(r), deps);
  });

  const control = (action: "abort" | "force-complete" | "fix-first" | "go-anyway") =>
    (async ({ ack, body, action: act, respond }) => {
      await ack();
      const user = body.user.id;
      const jobId = (act as { value?: string }).value ?? "";
      // Force complete is an approver's; aborting, and answering a prediction, an operator's.
      const role = action === "force-complete" ? "approver" : "operator";
      if (!(await access.has(user, role))) {
        await respond({
          response_type: "ephemeral",
          replace_original: false,
          text: refusal(role, CONTROL_WORDS[action]),
        });
        return;
      }
      const record = /^[A-Za-z0-9_-]{1,80}$/.test(jobId) ? await opts.store.load(jobId) : null;
      if (record === null) {
        await respond({
          response_type: "ephemeral",
          replace_original: false,
          text: "That migration is unknown to migbot.",
        });
        return;
      }
      const channel = (body as { channel?: { id?: string } }).channel?.id ?? "";
      if (channel !== record.view.channel) {
        // A button only acts in the channel its migration's thread is in.
        await respond({
          response_type: "ephemeral",
          replace_original: false,
          text: "That button belongs to a migration followed in another channel; nothing was sent to Nova.",
        });
        return;
      }
      const triggerId = (body as { trigger_id?: string }).trigger_id;
      await opts.enqueue.add("actions", idempotencyKey(action, triggerId, `${jobId}:${user}:${Date.now()}`), {
        type: action,
        vm: record.view.vm,
        jobId,
        channel,
        user,
        requestedAt: Date.now(),
        ...((body as { response_url?: string }).response_url !== undefined && {
          responseUrl: (body as { response_url?: string }).response_url,
        }),
      });
    }) as Parameters<App["action"]>[1];
  app.action(ACTION_ABORT, control("abort"));
  app.action(ACTION_FORCE_COMPLETE, control("force-complete"));
  app.action(ACTION_PREDICT_FIX_FIRST, control("fix-first"));
  app.action(ACTION_PREDICT_GO_ANYWAY, control("go-anyway"));
  opts.registerExtra?.(app, deps);
  if (opts.home) registerHomeEvents(app, opts.home, log);

  app.error(async (err) => {
    log.error("bolt error", { err });
  });

  let url: string | null = null;
  let server: Server | null = null;
  if (receiver) {
    server = (await app.start(opts.port ?? slack.port)) as unknown as Server;
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : (opts.port ?? slack.port);
    url = `http://127.0.0.1:${port}/slack/events`;
  } else {
    await app.start();
  }
  log.info("bot started", { transport: slack.transport, url });
  return {
    app,
    url,
    async stop() {
      // Stop taking requests (HTTP: the receiver stops accepting and waits for requests in flight;
      // Socket Mode: the socket closes), then let running listeners finish, all within the drain time.
      const deadline = Date.now() + BOT_DRAIN_TIMEOUT_MS;
      const cut = setTimeout(() => server?.closeAllConnections(), BOT_DRAIN_TIMEOUT_MS);
      try {
        await app.stop();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          (async () => {
            while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
          })(),
          new Promise((r) => {
            timer = setTimeout(r, Math.max(0, deadline - Date.now()));
          }),
        ]);
        clearTimeout(timer);
        if (inFlight.size > 0)
          log.warn("bot stopped with listeners still running", { running: inFlight.size });
      } finally {
        clearTimeout(cut);
      }
    },
  };
}
