#!/bin/sh
# Install Paydesk for this user: the app under ~/.local/lib/paydesk, the `paydesk` command in
# ~/.local/bin, its menu entry, icons and AppStream metainfo under ~/.local/share.
#   ./install.sh              install (or upgrade) from this folder
#   ./install.sh --uninstall  remove what install.sh put there
# PAYDESK_PREFIX moves ~/.local elsewhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${PAYDESK_PREFIX:-$HOME/.local}
app=$prefix/lib/paydesk
share=$prefix/share
app_id=com.paydesk.Paydesk

refresh() {
  # Menus and icon caches pick the change up now rather than at next login, where tools exist.
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$share/applications" || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$share/icons/hicolor" || true
}

uninstall() {
  rm -rf "$app"
  rm -f "$prefix/bin/paydesk" "$share/applications/paydesk.desktop" "$share/metainfo/$app_id.metainfo.xml"
  rm -f "$share"/icons/hicolor/*/apps/paydesk.png "$share/icons/hicolor/scalable/apps/paydesk.svg"
}

if [ "${1:-}" = "--uninstall" ]; then
  uninstall
  refresh
  echo "Paydesk removed from $prefix."
  exit 0
fi

uninstall  # an upgrade replaces the whole app folder
mkdir -p "$app" "$prefix/bin" "$share/applications" "$share/metainfo"
cp -R "$here/paydesk/." "$app/"
ln -sf "$app/paydesk" "$prefix/bin/paydesk"
cp -R "$here/share/icons" "$share/"
cp "$here/share/metainfo/$app_id.metainfo.xml" "$share/metainfo/"
# The menu entry starts the app by its full path: ~/.local/bin is not on every session's PATH.
sed -e "s|^Exec=paydesk|Exec=$app/paydesk|" -e "s|^TryExec=paydesk|TryExec=$app/paydesk|" \
  "$here/share/applications/paydesk.desktop" >"$share/applications/paydesk.desktop"
refresh
echo "Paydesk installed in $app; start it from the menu or with $prefix/bin/paydesk."
