#!/usr/bin/env bash
# The package's public API, checked: builds the package (declarations) and compares each entry
# point's API report (libs/client-credentials/api/*.api.md, API Extractor) with the committed one.
# A change to the public API fails here until the report is updated with `--update` and committed,
# so a breaking change is seen in review.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=()
[ "${1:-}" = --update ] && mode=(--local)
[ -f dist/package/libs/client-credentials/src/index.d.ts ] && [ "${REBUILD:-1}" = 0 ] || npm run --silent build:package
for config in libs/client-credentials/api-extractor*.json; do
  npx api-extractor run "${mode[@]}" -c "$config" >/tmp/api-extractor.log 2>&1 || {
    cat /tmp/api-extractor.log
    echo "api-report: the public API differs from libs/client-credentials/api — if intended, run" \
      "'npm run api:update' and commit the report (and say so in CHANGELOG.md)" >&2
    exit 1
  }
done
echo "api-report: public API matches libs/client-credentials/api"
