#!/usr/bin/env bash
# Set up a Debian/Ubuntu machine for LungLens and run it or its tests.
#   bash packaging/dev.sh demo    # the application on its built-in demo patient
#   bash packaging/dev.sh test    # lint, format check and the whole test suite
# Installs what is missing (Debian packages for Qt and the test tools, a virtual environment
# in .venv with the project and its extras), then runs. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
action="${1:-test}"

debian_packages=(
  # Qt's xcb platform plugin (DESIGN.md section 8)
  libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0
  libxcb-randr0 libxcb-render-util0 libxcb-image0 libegl1 libgl1 libfontconfig1 libdbus-1-3
  # tests and screenshots: a virtual display, the DICOM validator, PDF to text/PNG
  xvfb xauth dicom3tools poppler-utils
  # a real PACS for the DICOMweb tests (tests/pacs) and dcmtk (dsrdump: the SR as a second viewer shows it)
  orthanc orthanc-dicomweb dcmtk
)
missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
extras="test"
[ "$action" = "test" ] && extras="test,models,bench${LUNGLENS_KERAS_PARITY:+,keras-parity}"
.venv/bin/python -m pip install -q -e ".[${extras}]" 2>&1 | grep -v "^WARNING: Location" || true

case "$action" in
  demo)
    exec .venv/bin/lunglens --demo
    ;;
  test)
    .venv/bin/ruff check app tests models
    .venv/bin/ruff format --check app tests models
    set +e
    .venv/bin/python -m pytest -q
    status=$?
    set -e
    [ "$status" -eq 5 ] && { echo "pytest collected no tests"; exit 1; }
    exit "$status"
    ;;
  *)
    echo "usage: bash packaging/dev.sh demo|test" >&2
    exit 2
    ;;
esac
