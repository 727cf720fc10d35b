# go402: the facilitator and the gateway in one image.
#
#   docker build -t go402 .
#   docker run --rm -p 4022:4022 -v $PWD/deploy/facilitator.yaml:/etc/go402/facilitator.yaml:ro \
#     -e GO402_DATABASE_POSTGRES=postgres://... -e GO402_FACILITATOR_KEY=... -e BASE_SEPOLIA_RPC_URL=... \
#     go402 facilitator --config /etc/go402/facilitator.yaml
#   docker run --rm -p 8402:8402 -v $PWD/deploy/gateway.yaml:/etc/go402/gateway.yaml:ro \
#     go402 gateway --config /etc/go402/gateway.yaml
#
# The entry point is the go402 binary: the command's first word is the
# subcommand (facilitator, gateway, ...). Both servers answer GET /health
# (liveness) and GET /ready (readiness, 503 with the failing checks); see
# docs/operations.md. deploy/docker-compose.yml runs a complete example.

# --- build: cgo on, for go-ethereum's libsecp256k1 (signature recovery on
# every verify); SQLite is modernc.org/sqlite, pure Go.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/go402 ./cmd/go402

# --- runtime: a slim Debian (glibc, for the cgo binary) with CA
# certificates for HTTPS RPC endpoints and facilitators, as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10402 go402 \
 && useradd --system --uid 10402 --gid go402 --home-dir /var/lib/go402 --create-home --shell /usr/sbin/nologin go402
COPY --from=build /out/go402 /usr/local/bin/go402
USER 10402:10402
WORKDIR /var/lib/go402
# 4022: go402 facilitator; 8402: go402 gateway. Listen on 0.0.0.0 inside
# the container (GO402_LISTEN, or listen in the configuration).
ENV GO402_LISTEN=0.0.0.0:4022
EXPOSE 4022 8402
ENTRYPOINT ["go402"]
# The facilitator by default; for the gateway:
#   CMD ["gateway", "--config", "/etc/go402/gateway.yaml"] (and GO402_LISTEN=0.0.0.0:8402)
CMD ["facilitator", "--config", "/etc/go402/facilitator.yaml"]
