#!/usr/bin/env bash
# Debian packages the venv, the data builders, the emoji/wallpaper datasets and the browser tests need.
# Run by the Makefile with PYTHON_SYSTEM set to the Python the venv is made from.
# Installs what is missing when it can (root with apt-get); otherwise says what to install.
set -euo pipefail
packages=(
  fonts-noto-color-emoji      # Noto Color Emoji: emoji style A
  fonts-symbola               # Symbola: line-art emoji style
  plasma-workspace-wallpapers # photographs for super-resolution / edges
  mate-backgrounds            # more photographs
  chromium                    # the browser the demo-page tests drive (Playwright, headless)
)
# The venv itself: Debian ships `python3 -m venv` (ensurepip) apart from python3. Without it
# nothing else can run, so this one install is not optional.
python=${PYTHON_SYSTEM:-python3}
command -v "$python" >/dev/null || { echo "error: no $python on PATH (PYTHON_SYSTEM=... names another)" >&2; exit 1; }
if ! "$python" -c "import ensurepip, venv" 2>/dev/null; then
  version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing python${version}-venv (for $python -m venv)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "python${version}-venv" >/dev/null || {
      echo "error: could not install python${version}-venv, which $python -m venv needs" >&2; exit 1; }
  else
    echo "error: $python -m venv needs python${version}-venv: sudo apt-get install python${version}-venv" >&2
    exit 1
  fi
fi

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
