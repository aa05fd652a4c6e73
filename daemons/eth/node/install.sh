#!/bin/sh
# Install the ETH test node's npm packages (ganache, solc-js, OpenZeppelin contracts) exactly as locked.
# --ignore-scripts: no install scripts run (ganache's optional native addons fall back to pure JS);
# .npmrc turns off npm's update notifier, funding and audit calls. The tests call the same `npm ci`
# (daemons/eth/testing.py: install_node) when node_modules is missing or older than the lock file.
set -eu
cd "$(dirname "$0")"
exec npm ci --ignore-scripts --no-audit --no-fund
