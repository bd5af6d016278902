#!/bin/sh
# Builds keyward as a FROM scratch container image with podman (or
# buildah), without a Docker daemon and without pulling anything from a
# registry: a static binary, the host's CA certificates, a non-root user
# (65532) and /data owned by it.
#
#   packaging/scratch-image.sh [TAG]          # default keyward:latest
#   podman run -p 4000:4000 -v keyward-data:/data -e KEYWARD_ISSUER=https://auth.example.com keyward
#
# VERSION and COMMIT are linked into the binary for "keyward version"
# (default: git describe and git rev-parse HEAD). ENGINE is the command
# that builds (default podman; "buildah" works too) and ENGINE_FLAGS its
# global flags (for example --root DIR --storage-driver vfs).
set -eu

tag=${1:-keyward:latest}
repo=$(cd "$(dirname "$0")/.." && pwd)
engine=${ENGINE:-podman}
version=${VERSION:-$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || echo unknown)}
commit=${COMMIT:-$(git -C "$repo" rev-parse HEAD 2>/dev/null || true)}
certs=${CA_CERTIFICATES:-/etc/ssl/certs/ca-certificates.crt}

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT INT TERM

mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/datafs/data"
(cd "$repo" && CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.linkedVersion=$version -X main.linkedCommit=$commit" \
	-o "$ctx/rootfs/keyward" ./cmd/keyward)
cp "$certs" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/sbin/nologin\nkeyward:x:65532:65532:keyward:/data:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nkeyward:x:65532:\n' >"$ctx/rootfs/etc/group"
chmod 0700 "$ctx/datafs/data"

cat >"$ctx/Containerfile" <<'CONTAINERFILE'
FROM scratch
COPY --chown=0:0 rootfs/ /
# Copied as the contents of a directory so that /data itself gets the owner.
COPY --chown=65532:65532 datafs/ /
USER 65532:65532
VOLUME ["/data"]
EXPOSE 4000
ENTRYPOINT ["/keyward"]
CMD ["serve", "--listen", "0.0.0.0:4000", "--data", "/data"]
CONTAINERFILE

# shellcheck disable=SC2086 # ENGINE_FLAGS is a list of flags
case $engine in
*buildah) $engine ${ENGINE_FLAGS:-} bud -t "$tag" -f "$ctx/Containerfile" "$ctx" ;;
*) $engine ${ENGINE_FLAGS:-} build -t "$tag" -f "$ctx/Containerfile" "$ctx" ;;
esac
echo "built $tag (keyward $version)"
