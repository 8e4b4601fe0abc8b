#!/usr/bin/env bash
# Guards against the hang of issue 11: a suite whose Redis cannot start must fail with a message
# naming redis-server, release what it started beside it (the local authority), and let jest exit
# by itself. Runs the Redis-using e2e suites (default: every suite under test/shared-cache, so a
# new one is covered too; or the paths given) with a PATH that holds only `node`, so redis-server is
# really missing (no --forceExit, no --detectOpenHandles: those would hide the hang), and asserts
# jest ended within a bound, every suite failed, and the output says why. The wall-clock bound is
# this check's own: it only separates "exited" from "hung"; the suites never assert timings.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ $# -gt 0 ]; then suites=("$@"); else suites=(test/shared-cache); fi
suite="${suites[*]}"
bound=60
expected='redis-server is not on the PATH'

bin=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$bin" "$log"' EXIT
ln -s "$(command -v node)" "$bin/node"

start=$SECONDS
timeout --kill-after=5 "$bound" env PATH="$bin" node node_modules/jest/bin/jest.js "${suites[@]}" --runInBand \
  >"$log" 2>&1
rc=$?
took=$((SECONDS - start))

problems=()
[ "$rc" = 124 ] || [ "$rc" = 137 ] && problems+=("jest was still running after ${bound} s (it hung)")
[ "$rc" = 0 ] && problems+=("jest passed although redis-server was not on the PATH")
grep -q "$expected" "$log" || problems+=("the output does not say '$expected'")
grep -q 'Jest did not exit' "$log" && problems+=("jest reported handles left open")
# "Test Suites: 5 failed, 5 total": a suite that passed without Redis did not need it, or hid the failure.
counts=$(grep -m1 -o 'Test Suites: .*' "$log")
failed=$(printf '%s' "$counts" | grep -o '[0-9]* failed' | grep -o '[0-9]*')
total=$(printf '%s' "$counts" | grep -o '[0-9]* total' | grep -o '[0-9]*')
[ -n "$total" ] && [ "${failed:-0}" = "$total" ] || problems+=("not every suite failed (${counts:-no summary})")

if [ ${#problems[@]} -gt 0 ]; then
  echo "check-clean-failure: FAILED for $suite (exit $rc after ${took} s):"
  printf '  - %s\n' "${problems[@]}"
  echo '--- jest output:'
  cat "$log"
  exit 1
fi
echo "check-clean-failure: ok — without redis-server, $suite: ${counts#Test Suites: } (exit $rc," \
  "${took} s), naming it: $(grep -m1 -o "$expected[^(]*" "$log")"
