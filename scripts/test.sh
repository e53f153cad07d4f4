#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting, builds, runs every test.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --for-tests || exit 1
export OPENBLAS_NUM_THREADS=1

echo "== swift format lint --strict"
swift format lint --strict --recursive Package.swift Sources Tests || { echo "formatting: run swift format -i -r Package.swift Sources Tests"; exit 1; }

echo "== swift build -c release (tests run the optimized trainer; a warning in the project's own code fails)"
mkdir -p .build
swift build -c release --build-tests 2>&1 | tee .build/swift-build.log | grep -vE "^\[[0-9]+/[0-9]+\] (Compiling|Write|Linking|Emitting|Wrapping|Applying)"
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
# Dependencies' warnings are theirs; ours are errors (an incremental build shows only what it rebuilt).
own_warnings=$(grep -E "^$root/(Sources|Tests)/[^:]+:[0-9]+:[0-9]+: warning:" .build/swift-build.log | sort -u)
if [ -n "$own_warnings" ]; then
  echo "$own_warnings"
  echo "compiler warnings in Sources/ or Tests/: fix them"
  exit 1
fi

echo "== swift test"
mkdir -p .build
swift test -c release --skip-build 2>&1 | tee .build/swift-test.log | grep -E "error:|' failed|Executed [0-9]+ tests" | tail -40
swift_status=${PIPESTATUS[0]}

echo "== pytest (evaluator, dataset generator, report figures, the HTML report in chromium, the multi-host test, the Python client and protocol conformance)"
.venv/bin/python -m pytest -q -p no:cacheprovider -rfEs scripts/tests cluster/tests python/tests 2>&1 | tee .build/pytest.log | tail -5
py_status=${PIPESTATUS[0]}
if [ "$py_status" -ne 0 ]; then
  # Which tests failed, and why (the log keeps everything): CI shows only the end of this output.
  grep -E "^(FAILED|ERROR) |^E   |^[^ ]+\.py:[0-9]+: " .build/pytest.log | head -120
fi

# The launch self-tests (docs/CLUSTER.md): a real one-node Slurm and a private sshd, both on 127.0.0.1
# only, with the no-op trainer; one test each, about 40 s each on 2 cores. Each is bounded: stopped
# after 300 s (SIGTERM to the script, whose cleanup stops everything it started; SIGKILL 60 s later).
# They need root (like the multi-host test): skipped otherwise.
selftests_passed=0 selftests_failed=0
for selftest in cluster/slurm/selftest.sh cluster/ssh/selftest.sh; do
  echo "== $selftest (the launch self-test, at most 300 s)"
  if [ "$(id -u)" -ne 0 ]; then echo "skipped: needs root"; continue; fi
  log=".build/selftest-$(basename "$(dirname "$selftest")").log"
  started=$SECONDS
  timeout --foreground --kill-after=60 300 "$selftest" < /dev/null > "$log" 2>&1
  selftest_status=$?
  if [ "$selftest_status" -eq 0 ]; then
    selftests_passed=$((selftests_passed + 1))
    echo "passed in $((SECONDS - started)) s (log: $log)"
  else
    selftests_failed=$((selftests_failed + 1))
    tail -60 "$log"
    [ "$selftest_status" -ne 124 ] || echo "timed out after 300 s"
    echo "FAILED (exit status $selftest_status) in $((SECONDS - started)) s (log: $log)"
  fi
done

swift_total=$(grep -oE "Executed [0-9]+ tests, with [0-9]+ failures" .build/swift-test.log | tail -1)
swift_run=$(echo "$swift_total" | awk '{print $2}')
swift_failed=$(echo "$swift_total" | awk '{print $5}')
py_passed=$(grep -oE "[0-9]+ passed" .build/pytest.log | tail -1 | awk '{print $1}')
py_failed=$(grep -oE "[0-9]+ failed" .build/pytest.log | tail -1 | awk '{print $1}')
passed=$(( ${swift_run:-0} - ${swift_failed:-0} + ${py_passed:-0} ))
failed=$(( ${swift_failed:-0} + ${py_failed:-0} ))
passed=$((passed + selftests_passed)); failed=$((failed + selftests_failed))
if [ "$swift_status" -ne 0 ] || [ "$py_status" -ne 0 ]; then
  [ "$failed" -gt 0 ] || failed=1
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
