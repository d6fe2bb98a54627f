#!/usr/bin/env bash
# Debian packages the venv, the data builders, the emoji/wallpaper datasets and the browser tests need.
# Installs what is missing when it can (root with apt-get); otherwise says what to install.
set -euo pipefail
packages=(
  python3-venv                # python3 -m venv (Debian ships it apart from python3)
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
  # A failed install (offline, a name this release lacks) is reported, not fatal: the demo needs
  # none of the data packages, and what a test needs is named by that test when it is missing.
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    echo "warning: could not install: ${missing[*]} (apt-get failed above); continuing without them" >&2
  fi
else
  echo "warning: missing Debian packages: ${missing[*]}" >&2
  echo "         install them with: sudo apt-get install ${missing[*]}" >&2
fi
