import { createHmac } from "node:crypto";

/**
 * Slack's v0 request signature: `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>` keyed with the
 * app's signing secret (docs.slack.dev "Verifying requests from Slack"). Bolt recomputes exactly this.
 */
export function slackSignature(signingSecret: string, timestampS: number, body: string): string {
  return `v0=${createHmac("sha256", signingSecret).update(`v0:${timestampS}:${body}`).digest("hex")}`;
}

/** The headers Slack puts on a request it sends to an app. */
export function signedHeaders(
  signingSecret: string,
  body: string,
  nowMs = Date.now(),
): Record<string, string> {
  const timestampS = Math.floor(nowMs / 1000);
  return {
    // Exactly this value: Bolt's body parser compares the content type without parameters.
    "content-type": "application/x-www-form-urlencoded",
    "x-slack-request-timestamp": String(timestampS),
    "x-slack-signature": slackSignature(signingSecret, timestampS, body),
    "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
  };
}
