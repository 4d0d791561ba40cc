# syntax=docker/dockerfile:1
# One image for every Instadash service: the command is `instadash run <service>`.
#
#   docker build -t instadash .
#   docker run --rm instadash run tracker --help
#
# deploy/compose.yaml runs the whole platform from it.

# ---- build ------------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target directory are BuildKit cache mounts: a rebuild after a source change
# compiles only the workspace's own crates, without a dependency-only layer to keep in step with
# every member's Cargo.toml. The binary is copied out, since the cached target is not in the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p instadash \
    && install -D -m 0755 target/release/instadash /out/instadash

# ---- run --------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: for amqps:// brokers with publicly signed certificates. Not pinned to a
# version: the bookworm archive keeps only the latest, so a pin breaks the build at its next update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid, so volumes and mounted secret files can be owned by it on the host
# (deploy/make-secrets.sh does so).
RUN groupadd --system --gid 10001 instadash \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin instadash \
    && mkdir -p /data /definitions \
    && chown instadash:instadash /data /definitions

COPY --from=build /out/instadash /usr/local/bin/instadash

# /data: the services' state (tracker/, alerts/, trips/, clips/). /definitions: where the
# one-shot `instadash deploy definitions` of deploy/compose.yaml writes for the broker; a fresh
# named volume mounted there takes this directory's owner, so the service user can write to it.
ENV INSTADASH_DATA_DIR=/data \
    INSTADASH_HEALTH_LISTEN=0.0.0.0:8081
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001

# 8080: the monitor's dashboard; 8081: /healthz and /readyz of every service.
EXPOSE 8080 8081
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["instadash", "probe", "http://127.0.0.1:8081/healthz"]
ENTRYPOINT ["instadash"]
CMD ["run", "tracker"]
