#!/bin/bash
# Boot: fetch this environment's gateway_vm bundle and run its setup, which
# installs Docker, IB Gateway (compose) and the bridge's systemd unit.
set -euo pipefail
meta() { curl -fsS -H "Metadata-Flavor: Google" "http://metadata.google.internal/computeMetadata/v1/instance/attributes/$1"; }
bundle_url="$(meta mt-bundle-url)"
install_dir=/opt/mathematricks
mkdir -p "$install_dir"
gcloud storage cp "$bundle_url" /tmp/gateway-bundle.zip
apt-get update -qq && apt-get install -y -qq unzip >/dev/null
unzip -oq /tmp/gateway-bundle.zip -d "$install_dir"
MT_ENVIRONMENT="$(meta mt-environment)" bash "$install_dir/gateway_vm/setup.sh"
