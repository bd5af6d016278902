# syntax=docker/dockerfile:1
#
# keyward as a static binary on distroless, running as a non-root user.
#
#   docker build -t keyward .
#   docker run -p 4000:4000 -v keyward-data:/data \
#     -e KEYWARD_ISSUER=https://auth.example.com keyward
#
# The first start prints the admin password once on stdout (docker logs).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO_ENABLED=0: the SQLite driver is pure Go, so the binary links
# statically and runs on an image without libc. The .git directory, when
# present in the context, stamps the commit that "keyward version" prints.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/keyward ./cmd/keyward \
 && mkdir -p /out/rootfs/data && chmod 0700 /out/rootfs/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/keyward /keyward
# The data directory (SQLite database, master.key, admin-password) belongs
# to the image's non-root user (65532), which the process runs as.
# (Copied as the contents of a directory so that /data itself gets the owner.)
COPY --from=build --chown=65532:65532 /out/rootfs/ /
USER 65532:65532
VOLUME ["/data"]
EXPOSE 4000
ENTRYPOINT ["/keyward"]
CMD ["serve", "--listen", "0.0.0.0:4000", "--data", "/data"]
