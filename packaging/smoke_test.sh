#!/usr/bin/env bash
# Smoke-test a LungLens executable (frozen or installed): the headless analysis of the demo
# patient, then the viewer's self-test (main window offscreen, demo patient, analysis, exit 0).
#   bash packaging/smoke_test.sh PATH/TO/lunglens
set -euo pipefail
exe=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"   # nothing from the source tree
"$exe" analyze --demo --json demo.json >analyze.log 2>&1 || { cat analyze.log; exit 1; }
grep -q '"verdict"' demo.json || { echo "no verdict in demo.json"; exit 1; }
QT_QPA_PLATFORM=offscreen "$exe" --self-test >selftest.log 2>&1 || { cat selftest.log; exit 1; }
grep -i "module\|no such file\|not found" analyze.log selftest.log && { echo "missing module or file"; exit 1; }
echo "smoke test passed: $exe"
