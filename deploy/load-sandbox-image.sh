#!/usr/bin/env bash
# Copies the sandbox image the service image expects into the compose stack's
# sandbox engine (it has no network and pulls nothing). Run once per release,
# after deploy/build-images.sh and `docker compose up -d engine`.
#
# The image is built on this host by `acceptance image build` (Debian packages,
# no registry) unless it is here already; its tag is a digest of its inputs, so
# the workers find exactly the one their code expects.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${ACCEPTANCE_IMAGE:-acceptance-service:latest}
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi

tag=$(docker run --rm --network none --entrypoint python3 "$IMAGE" \
  -c 'from sandbox.image import default_image_tag; print(default_image_tag())')
if ! docker image inspect "$tag" >/dev/null 2>&1; then
  echo "· $tag is not in this host's engine: building it (acceptance image build)" >&2
  .venv/bin/acceptance image build >&2
  docker image inspect "$tag" >/dev/null
fi
echo "· loading $tag into the sandbox engine" >&2
docker save "$tag" | "${compose[@]}" exec -T engine docker --host unix:///run/engine/docker.sock load
"${compose[@]}" exec -T engine docker --host unix:///run/engine/docker.sock image inspect "$tag" >/dev/null
echo "· done: the workers' health checks pass once they see it" >&2
