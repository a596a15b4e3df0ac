# syntax=docker/dockerfile:1
# The pushgate server image: `docker build -t pushgate .` from the repository root.

# Build stage: the toolchain the project is developed with. The API contract is compiled by protox (pure
# Rust), so no protoc is installed; ring needs only the C compiler this image already has.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY src ./src
# The cache mounts keep downloaded crates and compiled dependencies between builds. A cache mount is not
# part of the image, so the binary is copied out of it; the empty data directory is made here because the
# runtime image has no shell to make it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin pushgate \
    && install -D -m 0755 target/release/pushgate /out/pushgate \
    && mkdir -m 0700 /out/data

# Runtime stage: glibc and libgcc_s (all the binary links besides libm and libc), CA certificates, no shell,
# and the unprivileged user 65532 ("nonroot") that the helm chart also runs as. Both stages are Debian 12,
# so the binary finds the glibc it was linked against.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/pushgate /usr/local/bin/pushgate
# Owned by the server's user, so a container without a mounted volume can still write its store.
COPY --from=build --chown=65532:65532 /out/data /var/lib/pushgate
# The defaults listen on loopback, which is unreachable from outside a container; the chart sets the same.
ENV PUSHGATE_SERVER_LISTEN=0.0.0.0:50051 \
    PUSHGATE_ADMIN_LISTEN=0.0.0.0:9464 \
    PUSHGATE_STORE_DATA_DIR=/var/lib/pushgate
WORKDIR /var/lib/pushgate
USER 65532:65532
# gRPC (the API, grpc.health.v1, reflection) and the admin HTTP port (/metrics, /healthz).
EXPOSE 50051 9464
VOLUME ["/var/lib/pushgate"]
ENTRYPOINT ["/usr/local/bin/pushgate", "serve"]
