# syntax=docker/dockerfile:1
# Multi-stage build: a static (musl) binary on a distroless base, non-root, no shell.
# `make static` builds the same static binary without Docker and checks that it runs.

FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
# The git commit shown in trackvia_operator_build_info (`--build-arg COMMIT=$(git rev-parse HEAD)`).
ARG COMMIT=unknown
ENV TRACKVIA_OPERATOR_COMMIT=$COMMIT
# On Alpine the host target is x86_64-unknown-linux-musl: the binary is static.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin trackvia-operator \
 && cp target/release/trackvia-operator /trackvia-operator

# distroless/static: CA certificates (for TLS to TrackVia and Workato), /etc/passwd with nonroot,
# no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /trackvia-operator /trackvia-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/trackvia-operator"]
CMD ["run"]
