# One image, two commands: the API (default) and the worker (`node dist/workers/main.js`).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY workers ./workers
COPY migrations ./migrations
COPY scripts ./scripts
COPY models ./models
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/models ./models
COPY package.json ./
USER node
EXPOSE 8080
CMD ["node", "--max-semi-space-size=32", "dist/src/main.js"]
