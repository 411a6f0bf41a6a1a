#!/usr/bin/env bash
# Install LungLens's desktop entry and icons for the current user (Linux, freedesktop).
#   bash packaging/install-desktop.sh
set -euo pipefail
cd "$(dirname "$0")/.."
share="${XDG_DATA_HOME:-$HOME/.local/share}"
install -Dm644 resources/lunglens.desktop "$share/applications/lunglens.desktop"
for icon in resources/icons/lunglens-*.png; do
  size=$(basename "$icon" .png | cut -d- -f2)
  install -Dm644 "$icon" "$share/icons/hicolor/${size}x${size}/apps/lunglens.png"
done
command -v update-desktop-database >/dev/null && update-desktop-database "$share/applications" || true
echo "installed into $share (the entry runs 'lunglens', which must be on PATH)"
