# syntax=docker/dockerfile:1
#
# keyward as a static binary on distroless, running as a non-root user.
#
#   docker build -t keyward \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) .
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
# statically and runs on an image without libc. VERSION and COMMIT are what
# "keyward version" prints when the build records no VCS information (a
# context without the .git directory, or without git in the image).
ARG VERSION=unknown
ARG COMMIT=
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.linkedVersion=${VERSION} -X main.linkedCommit=${COMMIT}" \
      -o /out/keyward ./cmd/keyward \
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
