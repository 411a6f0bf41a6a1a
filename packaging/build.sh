#!/usr/bin/env bash
# Build the one-folder LungLens bundle with PyInstaller into dist/lunglens/ and smoke-test it.
#   bash packaging/build.sh            # needs the project's .venv (bash packaging/dev.sh test makes it)
# Prints the build time and the bundle size. LUNGLENS_BUNDLE_GPU=1 keeps onnxruntime's GPU providers.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip install -q -e ".[packaging]" 2>&1 | grep -v "^WARNING: Location" || true
start=$(date +%s)
.venv/bin/pyinstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller \
  packaging/lunglens.spec
echo "build time: $(( $(date +%s) - start )) s"
echo "bundle size: $(du -sh dist/lunglens | cut -f1)"
bash packaging/smoke_test.sh dist/lunglens/lunglens
