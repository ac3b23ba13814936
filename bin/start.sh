#!/usr/bin/env bash
# `npm start`: installs what is missing, then starts migbot. Without Slack credentials that is the
# built-in sandbox with a console chat. Safe to run again: it installs only what is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/@slack/bolt ] || [ ! -d node_modules/tsx ]; then
  echo "migbot: installing npm dependencies (npm ci)…" >&2
  npm ci --no-audit --no-fund >&2
fi

if [ -z "${SLACK_BOT_TOKEN:-}" ] && [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1 \
  && [ ! -x /usr/sbin/redis-server ] && [ ! -x /usr/bin/redis-server ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    echo "migbot: redis-server is missing; installing it with: $sudo apt-get install -y redis-server" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends redis-server >&2
  else
    echo "migbot: redis-server is missing and this is not a Debian/Ubuntu machine: install Redis 6+ with your package manager, or set REDIS_URL" >&2
    exit 2
  fi
fi

exec node bin/migbot.mjs start "$@"
