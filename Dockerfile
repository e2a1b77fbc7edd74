# syntax=docker/dockerfile:1
#
# ollama-gate as one self-contained executable on a distroless base. See "Deployment" in README.md.
#
#   docker build -t ollama-gate .
#
# tests/deploy*.test.ts read this file: they run the `bun build --compile` line below and the image's
# ENTRYPOINT, USER and HEALTHCHECK outside Docker, so keep each of those on one line.

# --- build -------------------------------------------------------------------------------------------
# The repository's lockfile is npm's (package-lock.json), and it pins Bun itself: the `bun` devDependency.
# `npm ci` installs exactly what the tests ran with, Bun included, on the build machine's architecture.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: ssh2's optional native addons need a C++ toolchain and Bun cannot load them anyway
# (ssh2 falls back to pure JavaScript). Bun's own postinstall is then run by hand: it links the Bun binary
# of this platform (linux x64 or aarch64) from the lockfile's optional dependencies.
RUN npm ci --ignore-scripts --no-audit --no-fund && (cd node_modules/bun && node install.js) && node_modules/.bin/bun --version
COPY tsconfig.json ./
COPY src ./src
COPY status/base.json ./status/base.json
# One executable with the Bun runtime, the code and its dependencies (status/base.json is embedded too).
# The two --external flags leave out ssh2's optional native addons, which are not built here.
RUN node_modules/.bin/bun build --compile --minify --bytecode --format=esm --external cpu-features --external '*.node' src/index.ts --outfile /out/app/ollama-gate
# The status directory, owned by the runtime user, so an anonymous volume starts writable and with base.json.
RUN mkdir -p /out/app/status && cp status/base.json /out/app/status/base.json

# --- runtime -----------------------------------------------------------------------------------------
# glibc and CA certificates, no shell, no package manager; runs as uid/gid 65532 ("nonroot").
FROM gcr.io/distroless/base-nossl-debian12:nonroot
WORKDIR /app
COPY --from=build --chown=65532:65532 /out/app /app
USER 65532:65532
ENV HOST=0.0.0.0 PORT=8000 STATUS_FILE=/app/status/status.json
EXPOSE 8000
# status.json (counters, flags) and ssh_known_hosts.json (the learned SSH host key) live here.
VOLUME ["/app/status"]
# No curl in the image: the executable checks itself (GET http://127.0.0.1:$PORT/, 3 s timeout).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/app/ollama-gate", "healthcheck"]
ENTRYPOINT ["/app/ollama-gate"]
