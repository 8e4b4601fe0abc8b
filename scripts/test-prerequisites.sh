#!/usr/bin/env bash
# Runs before `npm test` and `npm run test:e2e` (npm's pretest hooks): the e2e suites start their
# own redis-server on a free loopback port, and the PKCS#11 suites their own SoftHSM2 tokens
# (softhsm2-util and its module), so both must be there before jest starts. Installs Debian's
# packages when this user can (root, or passwordless sudo, with apt-get); otherwise prints one line
# saying how and exits non-zero at once. Prints nothing when all is there.
# REDIS_SERVER_BIN names another binary, as it does for test/support/redis-server.ts;
# SOFTHSM2_MODULE another SoftHSM2 module, as it does for test/support/softhsm.ts.
set -uo pipefail

bin="${REDIS_SERVER_BIN:-redis-server}"
module="${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
how='install it (Debian/Ubuntu: sudo apt-get install redis-server softhsm2; macOS: brew install redis softhsm) and run npm test again'

runs() { "$@" >/dev/null 2>&1; }
fail() {
  printf 'npm test: %s\n' "$*" >&2
  exit 1
}
softhsm() { runs softhsm2-util --version && [ -e "$module" ]; }

missing=()
runs "$bin" --version || missing+=(redis-server)
softhsm || missing+=(softhsm2)
[ ${#missing[@]} = 0 ] && exit 0
what="${missing[*]} missing (the e2e suites start their own Redis and SoftHSM2 tokens)"

if [ "$bin" != redis-server ] && ! runs "$bin" --version; then
  fail "REDIS_SERVER_BIN=$bin cannot be run — point it at a redis-server binary, or unset it"
fi
if [ "$(id -u)" = 0 ]; then
  sudo=()
elif runs sudo -n true; then
  sudo=(sudo -n)
else
  fail "$what — $how"
fi
runs command -v apt-get || fail "$what — $how"

echo "npm test: ${missing[*]} missing; installing Debian's package(s)" >&2
# Quiet unless it fails; then the last line apt-get printed says why (no network, locked dpkg, ...).
out=$( { "${sudo[@]}" apt-get update -qq &&
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } 2>&1) ||
  fail "installing ${missing[*]} with apt-get failed ($(printf '%s' "$out" | tail -n 1)) — $how"
runs "$bin" --version || fail "redis-server is still not on the PATH after apt-get install — $how"
softhsm || fail "SoftHSM2 is still not usable after apt-get install ($module) — $how"
