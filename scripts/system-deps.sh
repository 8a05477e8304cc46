#!/bin/sh
# Debian packages Haechi uses beyond Python: Chromium for evidence screenshots (no browser
# download: Playwright drives /usr/bin/chromium) and a Korean font for the PDF report.
# Safe to run repeatedly; does nothing when they are present or apt is not available.
set -u
need=""
[ -x /usr/bin/chromium ] || need="$need chromium"
[ -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ] || need="$need fonts-nanum"
command -v ip >/dev/null 2>&1 || need="$need iproute2"   # network namespaces of the red-team tests
[ -z "$need" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: apt-get not found; install:$need (screenshot tests will be skipped)" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q $need >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null 2>&1; $SUDO apt-get install -y -q $need >/dev/null 2>&1; } \
  || echo "system-deps: could not install$need (screenshot tests will be skipped)" >&2
exit 0
