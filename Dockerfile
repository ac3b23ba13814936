# migbot image: one image for the bot and the workers (docker-compose.yml picks the role).
# Node.js 24 LTS, pinned to an exact release and Debian base so a rebuild gets the same runtime.
# To pin the digest too (recommended), read it from your registry and append it:
#   docker buildx imagetools inspect node:24.21.0-bookworm-slim   # prints Digest: sha256:…
#   FROM node:24.21.0-bookworm-slim@sha256:<that digest>
# and bump both together when a Node.js security release comes out.
FROM node:24.21.0-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, for layer caching. tsx is a runtime dependency (there is no build step: the
# TypeScript sources run through it), so --omit=dev keeps everything migbot needs.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY bot ./bot
COPY src ./src

# Not root: migbot needs no privilege in the container (SSH to hosts uses keys, not local rights).
USER node

CMD ["node", "bin/migbot.mjs", "start", "--role", "bot"]
