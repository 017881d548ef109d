#!/usr/bin/env bash
# Installs the Debian packages the test suite drives as real processes:
#   chromium + fonts-nanum  the browser tests (Playwright drives this system browser; it never
#                           downloads its own), and a Korean font for readable screenshots
#   fonts-noto-color-emoji  emoji in the screenshots (reactions, the picker) instead of empty boxes
#   postgresql              the cluster tests that also run on PostgreSQL (the tests initdb their own)
#   nginx                   the load-balancer test (deploy/nginx.conf in front of two nodes)
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list 2>/dev/null | grep -qi nanum || missing+=(fonts-nanum)
fc-list 2>/dev/null | grep -qi "color emoji" || missing+=(fonts-noto-color-emoji)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing test packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "The tests need Debian's packages ${missing[*]}: run as root or with sudo." >&2
    exit 1
  fi
fi
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
