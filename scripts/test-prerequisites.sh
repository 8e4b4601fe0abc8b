#!/usr/bin/env bash
# Runs before `npm test` and `npm run test:e2e` (npm's pretest hooks): the e2e suites start their
# own redis-server on a free loopback port, so it must be there before jest starts. Installs Debian's
# package when this user can (root, or passwordless sudo, with apt-get); otherwise prints one line
# saying how and exits non-zero at once. Prints nothing when all is there.
# REDIS_SERVER_BIN names another binary, as it does for test/support/redis-server.ts.
set -uo pipefail

bin="${REDIS_SERVER_BIN:-redis-server}"
how='install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) and run npm test again'

runs() { "$@" >/dev/null 2>&1; }
fail() {
  printf 'npm test: %s\n' "$*" >&2
  exit 1
}

runs "$bin" --version && exit 0

if [ "$bin" != redis-server ]; then
  fail "REDIS_SERVER_BIN=$bin cannot be run — point it at a redis-server binary, or unset it"
fi
if [ "$(id -u)" = 0 ]; then
  sudo=()
elif runs sudo -n true; then
  sudo=(sudo -n)
else
  fail "redis-server is not on the PATH (the e2e suites start their own) — $how"
fi
runs command -v apt-get || fail "redis-server is not on the PATH (the e2e suites start their own) — $how"

echo "npm test: redis-server is missing; installing Debian's redis-server package" >&2
# Quiet unless it fails; then the last line apt-get printed says why (no network, locked dpkg, ...).
out=$( { "${sudo[@]}" apt-get update -qq &&
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } 2>&1) ||
  fail "installing redis-server with apt-get failed ($(printf '%s' "$out" | tail -n 1)) — $how"
runs "$bin" --version || fail "redis-server is still not on the PATH after apt-get install — $how"
