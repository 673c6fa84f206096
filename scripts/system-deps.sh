#!/usr/bin/env bash
# The Debian packages the tests drive: Chromium and its CJK font (the web page and its
# screenshots), nginx (deploy/nginx), Prometheus and promtool (deploy/prometheus).
# Installs the missing ones when run as root; otherwise prints the command to run and fails.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/fonts/truetype/wqy ] || missing+=(fonts-wqy-microhei)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v curl >/dev/null || missing+=(curl)  # the README test runs its curl examples
{ [ -x /usr/bin/promtool ] && [ -x /usr/bin/prometheus ]; } || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0

install=(apt-get install -y -qq --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: ${missing[*]}. Install them as root, then rerun:" >&2
  echo "  sudo apt-get update && sudo ${install[*]}" >&2
  exit 1
fi

echo "Installing the missing system packages: ${missing[*]}" >&2
apt-get update -qq
# policy-rc.d exit 101: install the packages without starting their daemons (ports 80, 9090).
guard=/usr/sbin/policy-rc.d
if [ ! -e "$guard" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$guard"
  chmod +x "$guard"
  trap 'rm -f "$guard"' EXIT
fi
DEBIAN_FRONTEND=noninteractive "${install[@]}"
