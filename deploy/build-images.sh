#!/usr/bin/env bash
# Builds the service image (web, worker, scheduler) with no network inside the
# build: the wheelhouse and the missing Debian packages are fetched here, on the
# host, through pip's and apt's own configuration, into deploy/build/, and the
# Dockerfile installs only from there (`docker build --network none`).
#
#   deploy/build-images.sh                   # acceptance-service:latest
#   IMAGE_TAG=acceptance-service:1.2 deploy/build-images.sh
#   BASE_IMAGE=python:3.11-slim-bookworm deploy/build-images.sh   # where a registry is reachable
#
# BASE_IMAGE defaults to python:3.11-slim-bookworm when the engine already has
# it, else to the Debian 12 root filesystem `acceptance image build` imported
# (acceptance-sandbox-base:<hash>; built first if missing), so it works on a
# machine with no container registry at all. Needs Debian's apt (for the .deb
# files), Docker, and the project's virtualenv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${IMAGE_TAG:-acceptance-service:latest}
PYTHON=${PYTHON:-.venv/bin/python}
BUILD=deploy/build
# What the service image needs besides the project's own dependencies (until
# they are listed in pyproject.toml, where they belong; listing them twice is
# harmless). EXTRA_REQUIREMENTS="a b" adds others.
read -r -a EXTRA_REQUIREMENTS <<< "boto3 prometheus-client ${EXTRA_REQUIREMENTS:-}"
DEBIAN_PACKAGES=(git libmagic1 tini ca-certificates libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)

log() { printf '· %s\n' "$*" >&2; }
[ -x "$PYTHON" ] || { echo "no $PYTHON: run scripts/setup.sh first" >&2; exit 2; }

# -- the base image ----------------------------------------------------------
if [ -z "${BASE_IMAGE:-}" ]; then
  if docker image inspect python:3.11-slim-bookworm >/dev/null 2>&1; then
    BASE_IMAGE=python:3.11-slim-bookworm
  else
    BASE_IMAGE=$("$PYTHON" - <<'PY'
import hashlib, json
from sandbox.image import DEBIAN_PACKAGES, DEBIAN_SUITE, IMAGE_REPOSITORY
inputs = json.dumps([DEBIAN_SUITE, "minbase", DEBIAN_PACKAGES]).encode()
print(f"{IMAGE_REPOSITORY}-base:{hashlib.sha256(inputs).hexdigest()[:16]}")
PY
)
    if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
      log "no local base image: building the Debian root filesystem (acceptance image build)"
      .venv/bin/acceptance image build >&2
    fi
  fi
elif ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "pulling $BASE_IMAGE"
  docker pull "$BASE_IMAGE" >&2
fi
log "base image: $BASE_IMAGE"

image_python=$(docker run --rm --network none --entrypoint python3 "$BASE_IMAGE" \
  -c 'import platform; print(platform.python_version())')
host_python=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "${image_python%.*}" != "$host_python" ]; then
  echo "the base image has Python $image_python, this host $host_python: wheels must match;" \
       "use a base image with Python $host_python or run this with PYTHON=<a ${image_python%.*} venv>" >&2
  exit 2
fi

# Up to date? A digest of everything the image is made from: the base image,
# this script, the Dockerfile and the project's files (FORCE=1 rebuilds anyway).
digest=$( {
  docker image inspect -f '{{.Id}}' "$BASE_IMAGE"
  sha256sum Dockerfile deploy/build-images.sh pyproject.toml
  find acceptance sandbox checks web workers -type f ! -path '*/__pycache__/*' ! -name '*.pyc' \
    -print0 | sort -z | xargs -0 sha256sum
  printf '%s\n' "${EXTRA_REQUIREMENTS[@]}" "${DEBIAN_PACKAGES[@]}"
} | sha256sum | cut -c1-16)
if [ -z "${FORCE:-}" ] && [ "$(docker image inspect -f '{{index .Config.Labels "org.acceptance.inputs"}}' "$TAG" 2>/dev/null)" = "$digest" ]; then
  log "$TAG is up to date (inputs $digest)"
  echo "$TAG"
  exit 0
fi

rm -rf "$BUILD"
mkdir -p "$BUILD/wheelhouse" "$BUILD/debs/partial"
wheels=$BUILD/wheelhouse
quiet_pip() { "$PYTHON" -m pip "$@" 2> >(grep -v "is ignored: it is neither" >&2); }

# -- Python: the project and its dependencies as wheels ------------------------
# Binary wheels only, chosen for the image's exact Python version (Requires-Python).
log "wheelhouse for the image's Python $image_python (pip's configuration)"
started=$SECONDS
quiet_pip wheel --quiet --progress-bar off --no-deps --wheel-dir "$wheels" .
version=$("$PYTHON" -c 'import acceptance; print(acceptance.__version__)')
{
  echo "acceptance==$version"
  printf '%s\n' "${EXTRA_REQUIREMENTS[@]}"
} > "$wheels/requirements.txt"
download() {
  quiet_pip download --quiet --progress-bar off --only-binary=:all: \
    --python-version "$image_python" --find-links "$wheels" --dest "$wheels" "$@"
}
download -r "$wheels/requirements.txt"
# Environment markers (e.g. python_full_version < "3.11.3") are evaluated for
# this host's Python: let the image's own pip say what it still lacks.
for _ in 1 2 3 4 5; do
  if missing=$(docker run --rm --network none -v "$PWD/$wheels:/w:ro" --entrypoint sh \
      "$BASE_IMAGE" -c 'python3 -m venv /tmp/v && /tmp/v/bin/pip install -q \
      --disable-pip-version-check --no-index --find-links /w -r /w/requirements.txt --dry-run' 2>&1); then
    break
  fi
  wanted=$(printf '%s\n' "$missing" | sed -n 's/.*No matching distribution found for \([^ ;]*\).*/\1/p' | head -1)
  [ -n "$wanted" ] || { printf '%s\n' "$missing" >&2; exit 1; }
  log "  the image's Python also needs $wanted"
  download "$wanted"
done
log "  $(find "$wheels" -name '*.whl' | wc -l) wheels, $(du -sh "$wheels" | cut -f1), $((SECONDS - started)) s"

# -- Debian: exactly what the base image lacks ---------------------------------
# apt resolves against the image's own package list, so only missing packages
# (and their missing dependencies) are fetched; none for a base that has them.
log "Debian packages the base image lacks: ${DEBIAN_PACKAGES[*]}"
docker run --rm --network none --entrypoint cat "$BASE_IMAGE" /var/lib/dpkg/status > "$BUILD/dpkg-status"
fetch_debs() {
  apt-get -q -o Dir::State::status="$PWD/$BUILD/dpkg-status" \
    -o Dir::Cache::archives="$PWD/$BUILD/debs" -o Debug::NoLocking=1 \
    install --download-only -y --no-install-recommends "${DEBIAN_PACKAGES[@]}" >/dev/null
}
if ! fetch_debs 2>/dev/null; then
  log "  refreshing apt's package lists"
  apt-get update -q >/dev/null
  fetch_debs
fi
rm -rf "$BUILD/debs/partial" "$BUILD/debs/lock" "$BUILD/dpkg-status"
log "  $(find "$BUILD/debs" -name '*.deb' | wc -l) .deb file(s)"

# -- the image, with no network ------------------------------------------------
if ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0  # the classic builder; BuildKit needs the buildx plugin
fi
log "docker build --network none -t $TAG"
started=$SECONDS
docker build --network none --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --label "org.acceptance.base=$BASE_IMAGE" --label "org.acceptance.version=$version" \
  --label "org.acceptance.inputs=$digest" \
  -t "$TAG" . >&2
log "built $TAG in $((SECONDS - started)) s ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%d MB", $1/1e6}'))"
echo "$TAG"
