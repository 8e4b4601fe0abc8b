#!/usr/bin/env bash
# Time from a clean clone to the first token in a new app outside the repository, following
# docs/getting-started.md word for word: git clone, npm ci, npm run pack:package, a new folder,
# its two `npm install` lines, its three files, npm run dev-authority, the run.
#
#   bash scripts/first-token.sh [runs]       (default 1; each run in fresh folders under $TMPDIR)
#
# Clones this repository's HEAD (commit what you want measured). npm installs as the doc says,
# from the registry (npm's cache helps as it would on a newcomer's second try). Prints each step's
# seconds and the total per run. Needs `git`, `npm`, `node` on PATH — the node it measures.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && git rev-parse --show-toplevel)"
runs="${1:-1}"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

for run in $(seq 1 "$runs"); do
  work="$(mktemp -d "${TMPDIR:-/tmp}/first-token-XXXXXX")"
  authority=""
  cleanup() {
    # The authority runs in its own process group (npm, its shell, node): end that group.
    if [ -n "$authority" ]; then kill -- "-$authority" 2>/dev/null || true; wait "$authority" 2>/dev/null || true; fi
    rm -rf "$work"
  }
  trap cleanup EXIT
  t0=$(now)

  git clone --quiet "$repo" "$work/nest-client-credentials"
  cd "$work/nest-client-credentials"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1
  t_ci=$(now)
  tarball="$(npm run --silent pack:package 2>/dev/null | tail -n 1)"
  t_pack=$(now)

  mkdir "$work/app" && cd "$work/app"
  npm init -y >/dev/null
  # The "Install" lines of docs/getting-started.md, with the tarball's path.
  npm install --no-audit --no-fund --loglevel=error "$tarball" @nestjs/common @nestjs/core reflect-metadata rxjs >/dev/null 2>&1
  npm install --no-audit --no-fund --loglevel=error -D typescript@6 @types/node >/dev/null 2>&1
  t_install=$(now)
  # Its files: tsconfig.json, src/app.module.ts, src/main.ts, as the doc shows them.
  node -e '
    const fs = require("fs"), path = require("path");
    const doc = fs.readFileSync(process.argv[1], "utf8");
    for (const [, file, code] of doc.matchAll(/^```\w+ file=(\S+)\n([\s\S]*?)^```$/gm)) {
      if (!["tsconfig.json", "src/app.module.ts", "src/main.ts"].includes(file)) continue;
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, code);
    }' "$work/nest-client-credentials/docs/getting-started.md"

  # npm run dev-authority in the clone (the doc's other terminal), until its manifest is written.
  (cd "$work/nest-client-credentials" && DEV_AUTHORITY_PORT=0 exec setsid npm run --silent dev-authority >"$work/authority.log" 2>&1) &
  authority=$!
  manifest="$work/nest-client-credentials/.dev/authority.json"
  for _ in $(seq 1 600); do [ -s "$manifest" ] && grep -q 'Ctrl-C' "$work/authority.log" && break; sleep 0.1; done
  t_authority=$(now)

  eval "$(node -e '
    const m = require(process.argv[1]);
    console.log(`export NODE_EXTRA_CA_CERTS=${m.caPath} AZURE_AUTHORITY_HOST=${m.authorityHost}`);
    const a = m.apps.secret;
    console.log(`export AZURE_TENANT_ID=${a.tenantId} AZURE_CLIENT_ID=${a.clientId} AZURE_CLIENT_SECRET=${a.secret}`);
    console.log(`export API_SCOPE=${m.apiScope} API_BASE_URL=${m.apiUrl} API_PATH=data`);
  ' "$manifest")"
  npx tsc -p tsconfig.json
  out="$(node dist/main.js)"
  t_token=$(now)
  echo "$out" | sed 's/^/  /'
  echo "$out" | grep -q -- '-> 200$'

  echo "run $run (node $(node --version)): clone + npm ci $(secs "$t0" "$t_ci") s, pack $(secs "$t_ci" "$t_pack") s," \
    "app install $(secs "$t_pack" "$t_install") s, authority up $(secs "$t_install" "$t_authority") s," \
    "tsc + first token $(secs "$t_authority" "$t_token") s — total $(secs "$t0" "$t_token") s"
  unset NODE_EXTRA_CA_CERTS AZURE_AUTHORITY_HOST AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_CLIENT_SECRET API_SCOPE API_BASE_URL API_PATH
  cd "$repo"
  cleanup
  trap - EXIT
done
