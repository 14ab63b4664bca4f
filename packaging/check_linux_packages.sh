#!/usr/bin/env bash
# Check the Linux installers packaging/build_installers.py made: the .deb's metadata and
# contents, its desktop entry and AppStream metainfo, then install it with dpkg, run the
# installed command's self-test and remove it; then the tarball's install.sh into a temporary
# home, the same way. Needs root (dpkg -i); installs the validators it needs.
#   packaging/check_linux_packages.sh [dist/installers]
set -euo pipefail
out=${1:-dist/installers}
version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
deb=$(ls "$out"/paydesk_"$version"_*.deb)
tarball=$(ls "$out"/paydesk-"$version"-linux-*.tar.gz)
fail() { echo "check_linux_packages: $*" >&2; exit 1; }

missing=()
command -v desktop-file-validate >/dev/null || missing+=(desktop-file-utils)
command -v appstreamcli >/dev/null || missing+=(appstream)
if ((${#missing[@]})); then
  apt-get install -y -q "${missing[@]}" >/dev/null
fi

# Metadata: version and the system libraries Qt's xcb platform needs.
info=$(dpkg-deb --info "$deb")
grep -q "^ Version: $version$" <<<"$info" || fail "$deb: no Version $version"
grep -q "^ Depends: .*libxcb-icccm4.*libxcb-keysyms1" <<<"$info" || fail "$deb: Depends lacks the xcb libraries"
grep "^ Depends:" <<<"$info"

# Contents, and the size budgets (installed ≤ 150 MB, .deb ≤ 70 MB).
contents=$(dpkg-deb --contents "$deb")
for path in ./opt/paydesk/paydesk ./usr/bin/paydesk ./usr/share/applications/paydesk.desktop \
  ./usr/share/metainfo/com.paydesk.Paydesk.metainfo.xml ./usr/share/icons/hicolor/scalable/apps/paydesk.svg \
  ./usr/share/icons/hicolor/48x48/apps/paydesk.png ./usr/share/icons/hicolor/256x256/apps/paydesk.png; do
  grep -q " $path\( ->.*\)\?$" <<<"$contents" || fail "$deb: no $path"
done
installed_kib=$(dpkg-deb --field "$deb" Installed-Size)
((installed_kib * 1024 <= 150 * 1024 * 1024)) || fail "installed size ${installed_kib} KiB is over 150 MB"
(($(stat -c %s "$deb") <= 70 * 1024 * 1024)) || fail "$deb is over 70 MB"

# The desktop entry and the metainfo, as shipped.
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
dpkg-deb --extract "$deb" "$unpacked"
desktop-file-validate "$unpacked/usr/share/applications/paydesk.desktop"
appstreamcli validate --no-net "$unpacked/usr/share/metainfo/com.paydesk.Paydesk.metainfo.xml"

# Install, run from the command on PATH, remove: nothing may stay under /opt/paydesk.
dpkg -r paydesk >/dev/null 2>&1 || true
# The Depends this machine lacks first, as apt would bring them on a staff machine.
needs=()
for package in $(dpkg-deb --field "$deb" Depends | tr -d ' ' | tr ',' '\n' | sed 's/(.*//'); do
  dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || needs+=("$package")
done
if ((${#needs[@]})); then
  apt-get install -y -q --no-install-recommends "${needs[@]}" >/dev/null
fi
dpkg -i "$deb" >/dev/null
# A staff machine's PATH, not the build's (where an activated venv has a paydesk of its own).
system_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[ "$(PATH="$system_path" command -v paydesk)" = /usr/bin/paydesk ] ||
  fail "paydesk is not /usr/bin/paydesk on PATH"
env PATH="$system_path" QT_QPA_PLATFORM=offscreen PAYDESK_CONFIG_DIR="$unpacked/config" \
  PAYDESK_DATA_DIR="$unpacked/data" paydesk --self-test
dpkg -r paydesk >/dev/null
[ ! -e /opt/paydesk ] || fail "dpkg -r left $(find /opt/paydesk | head -5)"
[ ! -e /usr/bin/paydesk ] || fail "dpkg -r left /usr/bin/paydesk"

# The tarball's user install, into a temporary home.
home=$(mktemp -d)
trap 'rm -rf "$unpacked" "$home"' EXIT
tar -xzf "$tarball" -C "$home"
HOME=$home "$home"/paydesk-"$version"-linux-*/install.sh
for path in .local/bin/paydesk .local/lib/paydesk/paydesk .local/share/applications/paydesk.desktop \
  .local/share/icons/hicolor/48x48/apps/paydesk.png .local/share/metainfo/com.paydesk.Paydesk.metainfo.xml; do
  [ -e "$home/$path" ] || fail "install.sh did not make ~/$path"
done
desktop-file-validate "$home/.local/share/applications/paydesk.desktop"
grep -q "^Exec=$home/.local/lib/paydesk/paydesk$" "$home/.local/share/applications/paydesk.desktop" ||
  fail "the user menu entry does not start ~/.local/lib/paydesk/paydesk"
HOME=$home QT_QPA_PLATFORM=offscreen PAYDESK_CONFIG_DIR="$home/config" PAYDESK_DATA_DIR="$home/data" \
  "$home/.local/bin/paydesk" --self-test
HOME=$home "$home"/paydesk-"$version"-linux-*/install.sh --uninstall
[ ! -e "$home/.local/lib/paydesk" ] && [ ! -e "$home/.local/bin/paydesk" ] || fail "install.sh --uninstall left files"
echo "check_linux_packages: $deb and $tarball ok"
