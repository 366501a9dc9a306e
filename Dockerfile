# syntax=docker/dockerfile:1
# One image, two processes: `spillway operator` and `spillway sidecar`.
# The build and install steps live in docker/image.sh, which test/integration/image.test.ts also
# runs (no Docker engine in CI), so a broken image build fails the tests.

# Node: the LTS release pinned here is also the one .ci/run tests on (tools/lts-node.sh reads it
# from the first FROM line); bump both stages together.

# ---- build: dev dependencies, compile, then a production install into /app ----
# On the build machine's platform, also for a multi-arch build: its output is JavaScript, and no
# production dependency has a native part (test/integration/image.test.ts checks), so one /app
# serves every target platform without building under emulation.
FROM --platform=$BUILDPLATFORM node:24.22.3-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json cli.ts ./
COPY api/ api/
COPY lib/ lib/
COPY sidecar/ sidecar/
COPY operator/ operator/
COPY bin/ bin/
COPY crds/ crds/
COPY examples/ examples/
COPY docker/ docker/
RUN sh docker/image.sh build /src \
 && sh docker/image.sh install /src /app \
 && npm cache clean --force

# ---- runtime: node, the production install, a non-root user; read-only root FS friendly ----
FROM node:24.22.3-bookworm-slim
LABEL org.opencontainers.image.title="spillway" \
      org.opencontainers.image.description="Overload protection for chat and messaging services: TrafficPolicy operator and load-shedding sidecar" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/spillway-io/spillway"
# uid/gid 65532 ("nonroot", as in distroless): the chart's runAsUser.
RUN groupadd --gid 65532 spillway \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin spillway \
 && mkdir -p /var/lib/spillway \
 && chown 65532:65532 /var/lib/spillway
COPY --from=build /app /app
RUN ln -s /app/bin/spillway.js /usr/local/bin/spillway \
 && ln -s /app/bin/kubectl-spillway /usr/local/bin/kubectl-spillway
# The sidecar persists its last good config here: mount a volume (an emptyDir) so the root FS
# can stay read-only. Nothing else in the image is written at run time.
ENV NODE_ENV=production \
    SPILLWAY_STATE_DIR=/var/lib/spillway
VOLUME ["/var/lib/spillway"]
WORKDIR /app
USER 65532:65532
# sidecar: inbound, egress, admin; operator: admin (webhook 9443 when enabled)
EXPOSE 17001 17002 17090 17091
ENTRYPOINT ["spillway"]
CMD ["--help"]
