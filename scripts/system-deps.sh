#!/usr/bin/env bash
# Debian packages the project needs outside its venv: Electrum for the coin daemon (it is not on
# PyPI), Chromium and its driver for the browser tests. Installs only what is missing.
set -euo pipefail
wanted=(python3-electrum)
if [ "${WITH_BROWSER:-0}" = "1" ]; then wanted+=(chromium chromium-driver); fi
# The test command also needs PostgreSQL (scripts/test-services.sh) and Node.js with npm (the ETH
# daemon's test node); a machine that already has them from elsewhere keeps its own.
if [ "${WITH_TEST_SERVICES:-0}" = "1" ]; then
  command -v pg_ctlcluster >/dev/null || wanted+=(postgresql)
  command -v npm >/dev/null || wanted+=(nodejs npm)
fi
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "Installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
