#!/usr/bin/env bash
# Smoke-test a LungLens executable (frozen or installed): the headless analysis of the demo
# patient with its JSON and PDF report, a batch of a demo patient on two worker processes, then
# the viewer's self-test (main window offscreen, demo
# patient, analysis, PDF export, exit 0). A PDF must have pages (pdfinfo from poppler-utils, or
# the page tree's /Count where pdfinfo is missing).
#   bash packaging/smoke_test.sh PATH/TO/lunglens
set -euo pipefail
exe=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"   # nothing from the source tree

pdf_pages() {
  if command -v pdfinfo >/dev/null; then
    pdfinfo "$1" 2>/dev/null | awk '/^Pages:/ {print $2}'
  else
    grep -a -o '/Count [0-9]*' "$1" | awk '{print $2}' | sort -n | tail -1
  fi
}

"$exe" analyze --demo --json demo.json --report demo.pdf >analyze.log 2>&1 || { cat analyze.log; exit 1; }
grep -q '"verdict"' demo.json || { echo "no verdict in demo.json"; exit 1; }
pages=$(pdf_pages demo.pdf)
[ "${pages:-0}" -ge 1 ] || { cat analyze.log; echo "demo.pdf has no pages"; exit 1; }
# a batch starts worker processes from the executable itself (multiprocessing in a frozen app)
"$exe" demo-data --slices 40 archive/DEMO >demo-data.log 2>&1 || { cat demo-data.log; exit 1; }
"$exe" batch archive --out batch --workers 2 --lesion-method hu_bands >batch.log 2>&1 || { cat batch.log; exit 1; }
grep -q "1 done, 0 failed" batch.log || { cat batch.log; echo "the batch analysed nothing"; exit 1; }
QT_QPA_PLATFORM=offscreen "$exe" --self-test >selftest.log 2>&1 || { cat selftest.log; exit 1; }
grep -q "PDF report of [1-9][0-9]* page" selftest.log || { cat selftest.log; echo "the self-test exported no report"; exit 1; }
grep -i "module\|no such file\|not found\|not available yet" analyze.log selftest.log batch.log && { echo "missing module or file"; exit 1; }
echo "smoke test passed: $exe (CLI report: $pages pages; batch: $(grep -o '[0-9]* done, [0-9]* failed' batch.log | tail -1); $(grep -o 'PDF report of [0-9]* page(s)' selftest.log))"
