# The sailplan daemon: a static binary on a distroless base, running as non-root.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t sailplan:TAG .
#
# deploy/image_test.go parses this file and builds the binary with the build
# stage's `go build` line, as it stands, then checks that it is static and
# prints the version it was stamped with: keep that line one RUN of its own.
FROM golang:1.26 AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: a static binary, which the distroless static base (no libc)
# needs. -trimpath: no build machine paths in the binary.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sailplan ./cmd/sailplan

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sailplan /usr/local/bin/sailplan
# Numeric, so that the kubelet can check runAsNonRoot; the same as the
# Deployment's runAsUser and runAsGroup.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sailplan"]
CMD ["run"]
