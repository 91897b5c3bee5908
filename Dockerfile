# syntax=docker/dockerfile:1.7
# Two small, non-root runtime images from one multi-stage build:
#   docker build --target sample-service -t ghcr.io/example-org/sample-service:0.1.0 .
#   docker build --target platctl        -t ghcr.io/example-org/platctl:0.1.0 .
# The platctl image carries only platctl (no terraform): the chart's helm test
# hook uses it for `platctl smoke`. BuildKit builds only the stages a target needs.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build-base
# aws-lc-rs (the only TLS crypto provider) builds its C core with cmake and a C compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake build-essential pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .

FROM build-base AS build-sample-service
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p sample-service \
 && install -D -m 0755 target/release/sample-service /out/sample-service

FROM build-base AS build-platctl
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p platctl \
 && install -D -m 0755 target/release/platctl /out/platctl

# distroless/cc: glibc, libgcc and CA certificates; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot AS platctl
COPY --from=build-platctl /out/platctl /usr/local/bin/platctl
USER 65532:65532
ENV NO_COLOR=1
ENTRYPOINT ["/usr/local/bin/platctl"]

FROM gcr.io/distroless/cc-debian12:nonroot AS sample-service
COPY --from=build-sample-service /out/sample-service /usr/local/bin/sample-service
USER 65532:65532
ENV LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sample-service"]
