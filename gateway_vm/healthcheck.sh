#!/bin/bash
# 200: connected to IB Gateway. 503: up but disconnected (IB's nightly restart, or the
# weekly 2FA login is due): logged, the bridge keeps reconnecting on its own.
# No answer at all: the bridge is hung, so it is restarted.
set -uo pipefail
port="${BRIDGE_HEALTH_PORT:-8765}"
status="$(curl -s -o /tmp/mt-bridge-health.json -w '%{http_code}' --max-time 10 "http://127.0.0.1:${port}/healthz")"
case "$status" in
  200) exit 0 ;;
  503) logger -t mt-ibkr-bridge "disconnected from IB Gateway: $(cat /tmp/mt-bridge-health.json)"; exit 0 ;;
  *) logger -t mt-ibkr-bridge "health endpoint did not answer (${status}); restarting the bridge"
     systemctl restart mt-ibkr-bridge.service ;;
esac
