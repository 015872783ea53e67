#!/bin/bash
# The VM's startup script, run at boot and every five minutes by mt-bundle-sync.timer (which
# this script installs): install this environment's gateway_vm bundle when the metadata names
# one not yet installed. The bundle is verified against mt-bundle-sha256 before it is unpacked;
# setup.sh (Docker, IB Gateway, the bridge, the Ops Agent) runs and only its success records the
# bundle as installed, so a setup that failed (e.g. the IB login not yet in Secret Manager) is
# simply tried again five minutes later. Force a re-run: rm /opt/mathematricks/.installed-sha256.
set -euo pipefail
exec 9>/var/lock/mt-bundle-sync.lock
flock -n 9 || exit 0

meta() { curl -fsS -H "Metadata-Flavor: Google" "http://metadata.google.internal/computeMetadata/v1/instance/attributes/$1"; }
install_dir=/opt/mathematricks
marker="$install_dir/.installed-sha256"

if [ ! -f /etc/systemd/system/mt-bundle-sync.timer ]; then
  cat > /etc/systemd/system/mt-bundle-sync.service <<'UNIT'
[Unit]
Description=Install a new gateway_vm bundle named in the VM metadata (the startup script)

[Service]
Type=oneshot
ExecStart=/usr/bin/google_metadata_script_runner startup
UNIT
  cat > /etc/systemd/system/mt-bundle-sync.timer <<'UNIT'
[Unit]
Description=Every five minutes: look for a new gateway_vm bundle

[Timer]
OnBootSec=5min
OnUnitActiveSec=5min

[Install]
WantedBy=timers.target
UNIT
  systemctl daemon-reload
  systemctl enable --now mt-bundle-sync.timer
fi

bundle_url="$(meta mt-bundle-url)"
bundle_sha256="$(meta mt-bundle-sha256)"
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$bundle_sha256" ]; then
  exit 0
fi

echo "installing gateway bundle $bundle_url"
mkdir -p "$install_dir"
download="$(mktemp /tmp/gateway-bundle.XXXXXX.zip)"
trap 'rm -f "$download"' EXIT
gcloud storage cp "$bundle_url" "$download"
echo "$bundle_sha256  $download" | sha256sum --check --status || {
  echo "gateway bundle hash mismatch: expected $bundle_sha256, not installing" >&2
  exit 1
}
command -v unzip >/dev/null || { apt-get update -qq && apt-get install -y -qq unzip >/dev/null; }
rm -rf "$install_dir/gateway_vm" "$install_dir/shared"
unzip -oq "$download" -d "$install_dir"
MT_ENVIRONMENT="$(meta mt-environment)" bash "$install_dir/gateway_vm/setup.sh"
echo "$bundle_sha256" > "$marker"
echo "gateway bundle $bundle_sha256 installed"
