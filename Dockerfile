# VieAgent Gateway image: a static-ish Rust binary on distroless, non-root.
#
#   docker build -t vieagent .
#   docker run -p 8080:8080 \
#     -e VIEAGENT_DATABASE_URL=postgres://user:pass@db:5432/vieagent \
#     -e VIEAGENT_MASTER_KEY="$(vieagent vault generate-key)" vieagent
#
# The build steps live in docker/build.sh so CI (which has no Docker engine)
# runs exactly the same commands.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
ENV CARGO_TERM_COLOR=never OUT=/out
# 1. Dependencies only: this layer is rebuilt when Cargo.toml/Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
COPY docker/build.sh docker/build.sh
RUN docker/build.sh deps
# 2. The gateway.
COPY migrations migrations
COPY locales locales
COPY assets assets
COPY src src
RUN docker/build.sh app

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/vieagent /usr/local/bin/vieagent
# Listen on all interfaces inside the container; logs as JSON lines on stderr.
# Secrets (VIEAGENT_MASTER_KEY, VIEAGENT_DATABASE_URL with a password,
# VIEAGENT_ADMIN_TOKEN) come from the environment at run time, never the image.
ENV VIEAGENT_LISTEN=0.0.0.0:8080 \
    VIEAGENT_LOG_FORMAT=json
# The embedded SQLite default (and its generated key) lives in the non-root home.
WORKDIR /home/nonroot
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/vieagent", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/vieagent"]
CMD ["serve"]
