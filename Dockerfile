# The sailplan daemon: a static binary on a distroless base, running as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/sailplan ./cmd/sailplan

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sailplan /usr/local/bin/sailplan
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sailplan"]
CMD ["run"]
