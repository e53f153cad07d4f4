#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting, builds, runs every test.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh --for-tests || exit 1
export OPENBLAS_NUM_THREADS=1

echo "== swift format lint --strict"
swift format lint --strict --recursive Package.swift Sources Tests || { echo "formatting: run swift format -i -r Package.swift Sources Tests"; exit 1; }

echo "== swift build -c release (tests run the optimized trainer)"
swift build -c release --build-tests || exit 1

echo "== swift test"
mkdir -p .build
swift test -c release --skip-build 2>&1 | tee .build/swift-test.log | grep -E "error:|' failed|Executed [0-9]+ tests" | tail -40
swift_status=${PIPESTATUS[0]}

echo "== pytest (evaluator, dataset generator, report figures, the HTML report in chromium, the multi-host test, the Python client and protocol conformance)"
.venv/bin/python -m pytest -q -p no:cacheprovider -rs scripts/tests cluster/tests python/tests 2>&1 | tee .build/pytest.log | tail -5
py_status=${PIPESTATUS[0]}

swift_total=$(grep -oE "Executed [0-9]+ tests, with [0-9]+ failures" .build/swift-test.log | tail -1)
swift_run=$(echo "$swift_total" | awk '{print $2}')
swift_failed=$(echo "$swift_total" | awk '{print $5}')
py_passed=$(grep -oE "[0-9]+ passed" .build/pytest.log | tail -1 | awk '{print $1}')
py_failed=$(grep -oE "[0-9]+ failed" .build/pytest.log | tail -1 | awk '{print $1}')
passed=$(( ${swift_run:-0} - ${swift_failed:-0} + ${py_passed:-0} ))
failed=$(( ${swift_failed:-0} + ${py_failed:-0} ))
if [ "$swift_status" -ne 0 ] || [ "$py_status" -ne 0 ]; then
  [ "$failed" -gt 0 ] || failed=1
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
