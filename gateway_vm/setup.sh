#!/bin/bash
# Run by the VM's startup script (infra/terraform/modules/gateway_vm/startup.sh) from the
# unpacked bundle in /opt/mathematricks, at boot and for every new bundle: the Ops Agent,
# IB Gateway in Docker, the bridge under systemd. Idempotent: every step may run again.
# Without the IB login in Secret Manager it sets up everything else, starts the bridge (which
# reports 503 until IB Gateway is up) and exits 3, so the startup script tries again later.
set -euo pipefail
: "${MT_ENVIRONMENT:?}"
root=/opt/mathematricks
meta() { curl -fsS -H "Metadata-Flavor: Google" "http://metadata.google.internal/computeMetadata/v1/$1"; }
secret() { gcloud secrets versions access latest --secret="${MT_ENVIRONMENT}-$1"; }
has_secret() { [ -n "$(gcloud secrets versions list "${MT_ENVIRONMENT}-$1" --filter=state:ENABLED --limit=1 --format='value(name)' 2>/dev/null)" ]; }
project="$(meta project/project-id)"
trading_mode="$( [ "$MT_ENVIRONMENT" = production ] && echo live || echo paper )"
api_port="$( [ "$trading_mode" = live ] && echo 4001 || echo 4002 )"

apt-get update -qq
apt-get install -y -qq docker.io docker-compose python3-venv curl >/dev/null
id mathematricks >/dev/null 2>&1 || useradd --system --home "$root" mathematricks
install -d -m 700 /etc/mathematricks/secrets
install -d -o mathematricks /var/log/mathematricks

# The Ops Agent ships the journal (the bridge's JSON log lines, the health timer's messages)
# and the VM's metrics to Cloud Monitoring (infra/terraform/modules/platform/monitoring.tf).
if ! dpkg -s google-cloud-ops-agent >/dev/null 2>&1; then
  curl -fsSL -o /tmp/add-google-cloud-ops-agent-repo.sh https://dl.google.com/cloudagents/add-google-cloud-ops-agent-repo.sh
  bash /tmp/add-google-cloud-ops-agent-repo.sh --also-install
fi
install -m 644 "$root/gateway_vm/ops-agent.yaml" /etc/google-cloud-ops-agent/config.yaml
systemctl restart google-cloud-ops-agent

umask 077
cat > /etc/mathematricks/bridge.env <<ENV
MT_STORE=firestore
MT_BUS=pubsub
GOOGLE_CLOUD_PROJECT=${project}
MT_ENVIRONMENT=${MT_ENVIRONMENT}
MT_STRUCTURED_LOGS=1
MT_LOG_DIR=/var/log/mathematricks
IBKR_GATEWAY=127.0.0.1:${api_port}
IBKR_CLIENT_ID=17
IBKR_PRICE_FALLBACK_LAST_FILL=0
IBKR_POLL_SECONDS=30
BRIDGE_HEALTH_PORT=8765
ENV
chmod 644 /etc/mathematricks/bridge.env
umask 022

python3 -m venv "$root/.venv"
"$root/.venv/bin/pip" install --quiet -r "$root/requirements.txt"

install -m 644 "$root"/gateway_vm/mt-ibkr-bridge*.service "$root"/gateway_vm/mt-ibkr-bridge-health.timer /etc/systemd/system/
chmod 755 "$root/gateway_vm/healthcheck.sh"
systemctl daemon-reload
systemctl enable mt-ibkr-bridge.service mt-ibkr-bridge-health.timer
systemctl restart mt-ibkr-bridge.service  # a new bundle's code
systemctl start mt-ibkr-bridge-health.timer

# Credentials from Secret Manager into root-only files: never in the environment or a log.
if ! has_secret ib-username || ! has_secret ib-password; then
  echo "no version of ${MT_ENVIRONMENT}-ib-username / ${MT_ENVIRONMENT}-ib-password yet: IB Gateway not started; retrying in 5 minutes" >&2
  exit 3
fi
umask 077
secret ib-password > /etc/mathematricks/secrets/ib_password
printf 'TWS_USERID=%s\nTRADING_MODE=%s\n' "$(secret ib-username)" "$trading_mode" > /etc/mathematricks/ib-gateway.env
umask 022
docker-compose -f "$root/gateway_vm/docker-compose.yml" up -d
