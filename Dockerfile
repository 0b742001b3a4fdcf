# Multi-stage: build with dev dependencies, run with production ones only, as the unprivileged node user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm install, not npm ci: the lockfile is written on Linux and omits other platforms' optional binaries.
RUN npm install --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

# The dev stack's one-shot credentials step (docker-compose.yml `credentials`): it needs the openssl
# command to make certificates, which the runtime image below does without.
FROM node:20-bookworm-slim AS dev-credentials
RUN apt-get update && apt-get install -y --no-install-recommends openssl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# Named volumes mounted here start out owned by node, so the step can write them as that user.
RUN mkdir -p /creds/provider /creds/orders /creds/sensors /creds/publisher /creds/nats /keys && chown -R node:node /creds /keys
USER node
CMD ["node", "dist/services/local/dev-credentials.js", "provider=/creds/provider", "orders=/creds/orders", "sensors=/creds/sensors", "publisher=/creds/publisher", "nats=/creds/nats", "keys=/keys"]

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/proto ./proto
# Consumers keep their resume position here (CONSUMER_STATE_FILE). Owned by node because the process
# is not root, and a fresh named volume mounted here copies this ownership.
RUN install -d -o node -g node -m 0755 /var/lib/tether
USER node
EXPOSE 50051 9464
CMD ["node", "--initial-old-space-size=64", "dist/services/provider/main.js"]
