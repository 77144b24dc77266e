# Multi-stage build: a static floe binary on a distroless, non-root base.
#   docker build -t floe --build-arg VERSION=$(git describe --tags --always) .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/floe ./cmd/floe

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/floe /usr/local/bin/floe
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/floe"]
CMD ["run", "--config", "/etc/floe/floe.yaml"]
