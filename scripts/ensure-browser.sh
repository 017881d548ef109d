#!/usr/bin/env bash
# Installs Debian's Chromium (and a Korean font for readable screenshots) for the browser tests.
# Playwright drives this system browser; it never downloads one of its own.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi nanum; then
  exit 0
fi
packages="chromium fonts-nanum"
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
elif command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
else
  echo "The browser tests need Debian's packages: $packages (run as root or with sudo)." >&2
  exit 1
fi
