# migbot image: one image for the bot and the workers (docker-compose.yml picks the role).
FROM node:20-slim

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
