#!/usr/bin/env bash
# Run the named pytest tiers (unit, integration, e2e) one after the other, say
# what ran, and close with one aggregate line: "total: N passed, N failed, N skipped".
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
results="build/test-results"
mkdir -p "$results"
rm -f "$results"/*.xml
status=0
for tier in "$@"; do
  echo "=== make test: tier '$tier' (pytest -m $tier tests/$tier)"
  if [ ! -d "tests/$tier" ]; then echo "    no tests/$tier directory"; continue; fi
  mark="$tier"
  # `make test` runs a representative e2e subset (E2E_MARK='e2e and not full');
  # `make e2e` runs every e2e test. Deselected tests are counted in the summary.
  if [ "$tier" = e2e ] && [ -n "${E2E_MARK:-}" ]; then mark="$E2E_MARK"; fi
  echo "    marker expression: $mark"
  uv run --locked pytest -m "$mark" "tests/$tier" --junitxml="$results/$tier.xml" ${PYTEST_ARGS:-}
  rc=$?
  case $rc in
    0) ;;
    5) echo "    tier '$tier' collected no tests" ;;
    *) status=1; echo "    tier '$tier' FAILED (pytest exit $rc)" ;;
  esac
done
uv run --locked python - "$results" <<'PY'
import sys, pathlib, xml.etree.ElementTree as ET
tot = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
rows = []
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    root = ET.parse(f).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    c = {k: sum(int(s.get(k, 0)) for s in suites) for k in tot}
    for k in tot: tot[k] += c[k]
    passed = c["tests"] - c["failures"] - c["errors"] - c["skipped"]
    rows.append(f"  {f.stem:<12} {passed:>4} passed {c['failures']+c['errors']:>3} failed {c['skipped']:>3} skipped")
print("=== make test: summary by tier")
print("\n".join(rows) or "  (no tier ran)")
passed = tot["tests"] - tot["failures"] - tot["errors"] - tot["skipped"]
print(f"total: {passed} passed, {tot['failures'] + tot['errors']} failed, {tot['skipped']} skipped")
PY
exit $status
