#!/usr/bin/env bash
# Add the unpacked sciceapp folder to this user's desktop: launchers in ~/.local/bin, a menu
# entry and icons in ~/.local/share. Run it from the unpacked folder:
#   ./install-desktop.sh              # install (again) for the current user
#   ./install-desktop.sh --uninstall  # take the launchers, menu entry and icons away
# The app's data folder (collections, models) is never touched; see the user guide.
set -euo pipefail

APP="$(cd "$(dirname "$0")" && pwd)"
BIN="${XDG_BIN_HOME:-$HOME/.local/bin}"
SHARE="${XDG_DATA_HOME:-$HOME/.local/share}"
RES="$APP/_internal/sciceapp/_data/resources"
SIZES="16 24 32 48 64 128 256"

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$BIN/sciceapp" "$BIN/sciceapp-gui" "$SHARE/applications/sciceapp.desktop"
  rm -f "$SHARE/icons/hicolor/scalable/apps/sciceapp.svg"
  for size in $SIZES; do rm -f "$SHARE/icons/hicolor/${size}x${size}/apps/sciceapp.png"; done
  command -v update-desktop-database >/dev/null && update-desktop-database "$SHARE/applications" || true
  echo "Removed the sciceapp launchers and menu entry. Delete $APP yourself to remove the app."
  exit 0
fi

mkdir -p "$BIN" "$SHARE/applications" "$SHARE/icons/hicolor/scalable/apps"
ln -sf "$APP/sciceapp" "$BIN/sciceapp"
ln -sf "$APP/sciceapp-gui" "$BIN/sciceapp-gui"
# The menu entry names the launcher by its full path: ~/.local/bin is not always on PATH.
sed -e "s|^Exec=.*|Exec=$BIN/sciceapp-gui|" -e "s|^TryExec=.*|TryExec=$BIN/sciceapp-gui|" \
  "$RES/sciceapp.desktop" > "$SHARE/applications/sciceapp.desktop"
cp "$RES/icons/sciceapp.svg" "$SHARE/icons/hicolor/scalable/apps/sciceapp.svg"
for size in $SIZES; do
  mkdir -p "$SHARE/icons/hicolor/${size}x${size}/apps"
  cp "$RES/icons/sciceapp-$size.png" "$SHARE/icons/hicolor/${size}x${size}/apps/sciceapp.png"
done
command -v update-desktop-database >/dev/null && update-desktop-database "$SHARE/applications" || true
echo "Installed: sciceapp in the applications menu, launchers in $BIN."
