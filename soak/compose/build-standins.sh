#!/usr/bin/env bash
# Builds look-alikes of the images deploy/docker-compose.yml pulls (postgres:15, redis:7,
# nginx:1.28-alpine, MinIO and mc, and node:20-bookworm-slim for deploy/Dockerfile) from
# Debian's packages and npm, and tags them with those names: for a machine that reaches
# neither Docker Hub nor quay.io. MinIO's stand-in is s3rver speaking S3 on :9000 with
# MINIO_ROOT_USER's key. Needs Docker, debootstrap, and Node 20 on this machine.
# With a registry, skip this: compose pulls the real images.
set -euo pipefail
here="$(cd "$(dirname "$0")/standins" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! docker image inspect debian-local:bookworm >/dev/null 2>&1; then
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >/dev/null
  tar -C "$work/rootfs" -c . | docker import - debian-local:bookworm
fi

node="$(command -v node)"
[[ "$(node -p 'process.versions.node.split(".")[0]')" == 20 ]] || { echo "needs Node 20 here" >&2; exit 1; }
cp -r "$here/node" "$work/node"
cp "$node" "$work/node/node"
cp -r "$(npm root -g)/npm" "$work/node/npm"
cp -r "$(dirname "$(dirname "$node")")/include/node" "$work/node/include-node"
cp /etc/ssl/certs/ca-certificates.crt "$work/node/ca-certificates.crt"
docker build -q -t node:20-bookworm-slim "$work/node"

docker build -q -t postgres:15 "$here/postgres"
docker build -q -t redis:7 "$here/redis"
docker build -q -t nginx:1.28-alpine "$here/nginx"
docker build -q -t quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z "$here/minio"
docker tag quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z quay.io/minio/mc:RELEASE.2025-04-16T18-13-26Z
