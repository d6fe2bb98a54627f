#!/usr/bin/env bash
# Debian packages the data builders, the emoji/wallpaper datasets and the browser tests read.
# Installs what is missing when it can (root with apt-get); otherwise says what to install.
set -euo pipefail
packages=(
  fonts-noto-color-emoji      # Noto Color Emoji: emoji style A
  fonts-symbola               # Symbola: line-art emoji style
  plasma-workspace-wallpapers # photographs for super-resolution / edges
  mate-backgrounds            # more photographs
  chromium                    # the browser the demo-page tests drive (Playwright, headless)
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "warning: missing Debian packages: ${missing[*]}" >&2
  echo "         install them with: sudo apt-get install ${missing[*]}" >&2
fi
