#!/usr/bin/env bash
# Creates the secrets compose.yaml mounts, once: the database and Redis
# passwords, the token Prometheus sends to /metrics, and the Ed25519 signing
# key pair. Never overwrites a file that is
# there. The files belong to uid 10002 (the service image's user), mode 0600
# (0644 for the public key): the services read them, nobody else on the host.
#
#   deploy/make-secrets.sh [DIR]      # DIR: ACCEPTANCE_SECRETS_DIR or ./secrets
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-${ACCEPTANCE_SECRETS_DIR:-./secrets}}
APP_UID=${APP_UID:-10002}
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

password() {
  local file=$dir/$1
  [ -e "$file" ] && { echo "· $file exists: kept"; return; }
  # hex: safe in URLs and configuration files without quoting
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$file"
  echo "· created $file"
}
password db_password
password redis_password
password metrics_token

if [ -e "$dir/signing.key" ]; then
  echo "· $dir/signing.key exists: kept"
else
  openssl genpkey -algorithm ed25519 -out "$dir/signing.key"
  openssl pkey -in "$dir/signing.key" -pubout -out "$dir/signing.pub"
  chmod 0644 "$dir/signing.pub"
  echo "· created the signing key pair $dir/signing.key and $dir/signing.pub"
fi

if [ "$(id -u)" = 0 ]; then
  chown "$APP_UID:$APP_UID" "$dir"/db_password "$dir"/redis_password "$dir"/metrics_token \
    "$dir"/signing.key "$dir"/signing.pub
else
  echo "· not root: make the files readable by uid $APP_UID (chown $APP_UID $dir/*)" >&2
fi
chmod 0600 "$dir"/db_password "$dir"/redis_password "$dir"/metrics_token "$dir"/signing.key
chmod 0711 "$dir"  # the files' own modes decide who reads them
