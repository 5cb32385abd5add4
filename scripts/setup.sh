#!/usr/bin/env bash
# Idempotent set-up on Debian 12 as root: system packages, Docker engine,
# the project's virtualenv and the sandbox image. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '· %s\n' "$*" >&2; }

need_apt=()
command -v git >/dev/null || need_apt+=(git)
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
# libmagic: ScanCode (licence detection) identifies file types with it.
ldconfig -p | grep -q 'libmagic\.so\.1 ' || need_apt+=(libmagic1)
# A real browser for the dashboard's tests (axe-core runs in it).
command -v chromium >/dev/null || need_apt+=(chromium fonts-dejavu-core)
command -v npm >/dev/null || need_apt+=(npm)
# WeasyPrint (acceptance certificates as PDF) lays text out with pango; DejaVu for its glyphs.
ldconfig -p | grep -q 'libpangoft2-1\.0\.so\.0 ' || need_apt+=(libpango-1.0-0 libpangoft2-1.0-0)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
# Deployment checks: compose validation, the scale-out tests' own Redis, secrets.
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v openssl >/dev/null || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting the Docker engine (no bridge network: sandboxes run without network)"
  nohup dockerd --bridge=none --iptables=false >/var/log/acceptance-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "the Docker engine did not start; see /var/log/acceptance-dockerd.log" >&2; exit 1; }
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import acceptance, yaml, docker, hypothesis' 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  log "installing the project into .venv"
  .venv/bin/pip install -q --progress-bar off -e '.[test]'
  touch .venv/.installed
fi

log "compiling the dashboard's translations"
.venv/bin/pybabel compile -d web/dashboard/translations >/dev/null
if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ] \
   || [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
  log "installing axe-core for the browser tests (npm)"
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error >/dev/null
fi

log "building the sandbox image (reused when up to date)"
.venv/bin/acceptance image build
# The accessibility check's variant: Debian's Chromium, Playwright, the axe-core installed above.
log "building the browser image variant (reused when up to date)"
.venv/bin/acceptance image build --browser
# The shell runtime's variant: Debian's bash, bats, shellcheck and git (docs/runtimes.md).
log "building the shell runtime image (reused when up to date)"
.venv/bin/acceptance image build --runtime shell
# The node runtime's variant: Debian's nodejs and npm (docs/runtimes.md).
log "building the node runtime image (reused when up to date)"
.venv/bin/acceptance image build --runtime node

# Offline vulnerability data: the PyPA and Node.js Security WG snapshots beside the
# project (../shared/osv), each imported once as its own source of the data directory's
# store (an import replaces only its ecosystem's source).
sources=$(.venv/bin/acceptance advisories status 2>/dev/null || true)
for pair in PyPI:pypa-advisory-database.tar.gz npm:nodejs-security-wg-npm.tar.gz; do
  ecosystem=${pair%%:*}
  archive=../shared/osv/${pair#*:}
  if ! grep -q "^ecosystem: $ecosystem " <<<"$sources"; then
    if [ -f "$archive" ]; then
      log "importing the offline $ecosystem advisories from $archive"
      .venv/bin/acceptance advisories import "$archive" >/dev/null
    else
      log "no $ecosystem advisories imported: run \`acceptance advisories import ARCHIVE\`"
    fi
  fi
done
