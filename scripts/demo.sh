#!/usr/bin/env bash
# The main job on the included example: check examples/contact-form against its
# acceptance spec in the sandbox, write a signed report, and verify it offline.
set -euo pipefail
cd "$(dirname "$0")/.."
export ACCEPTANCE_DATA_DIR="${ACCEPTANCE_DATA_DIR:-$PWD/.data}"
bash scripts/setup.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The example ships as plain files; make it the git repository a supplier would push.
cp -a examples/contact-form "$work/repo"
git -C "$work/repo" init -q -b main
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=Supplier -c user.email=supplier@example.invalid commit -q -m "Deliver contact form validation"

mkdir -p artifacts
.venv/bin/acceptance check "$work/repo" --spec examples/specs/contact-form/acceptance.yaml \
  --out artifacts/contact-form.report.json --artifacts artifacts/contact-form
.venv/bin/acceptance verify artifacts/contact-form.report.json
