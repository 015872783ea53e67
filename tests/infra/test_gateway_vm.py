"""The gateway VM's files agree with the bridge and with Terraform."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile

import pytest
import yaml

from devstack.package_functions import build_gateway_bundle
from devstack.processes import REPO_ROOT
from shared.config import GATEWAY_SETTINGS

GATEWAY = REPO_ROOT / "gateway_vm"


def test_ib_gateway_listens_on_loopback_only_and_reads_its_password_from_a_file():
    compose = yaml.safe_load((GATEWAY / "docker-compose.yml").read_text())
    service = compose["services"]["ib-gateway"]
    assert service["image"].startswith("ghcr.io/gnzsnz/ib-gateway")
    assert service["ports"] and all(port.startswith("127.0.0.1:") for port in service["ports"])
    assert {p.split(":")[1] for p in service["ports"]} == {"4001", "4002"}
    environment = service["environment"]
    assert environment["READ_ONLY_API"] == "no" and environment["TWOFA_TIMEOUT_ACTION"] == "restart"
    assert environment["TWS_PASSWORD_FILE"] == "/run/secrets/ib_password" and "ib_password" in compose["secrets"]
    assert "TWS_PASSWORD" not in environment and service["restart"] == "always"
    assert any(volume.startswith("tws_settings:") for volume in service["volumes"])


def test_the_unit_runs_the_bridge_with_the_settings_setup_writes():
    unit = (GATEWAY / "mt-ibkr-bridge.service").read_text()
    assert "ExecStart=/opt/mathematricks/.venv/bin/python -m gateway_vm.bridge" in unit
    assert "Restart=always" in unit and "EnvironmentFile=/etc/mathematricks/bridge.env" in unit
    setup = (GATEWAY / "setup.sh").read_text()
    written = set(re.findall(r"^([A-Z_]+)=", setup.split("<<ENV", 1)[1].split("\nENV", 1)[0], re.MULTILINE))
    bridge = (GATEWAY / "bridge" / "__main__.py").read_text()
    read = set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', bridge))
    ibkr = (REPO_ROOT / "shared" / "adapters" / "brokers" / "ibkr" / "config.py").read_text()
    read |= set(re.findall(r'env\.get\("([A-Z_]+)"', ibkr))
    assert read <= written and {"MT_STORE", "MT_BUS", "GOOGLE_CLOUD_PROJECT"} <= written
    assert set(GATEWAY_SETTINGS) <= read


def test_the_secrets_setup_reads_are_declared_in_terraform():
    setup = (GATEWAY / "setup.sh").read_text()
    wanted = set(re.findall(r"secret ([a-z-]+)", setup)) - {"versions"}
    secrets_tf = (REPO_ROOT / "infra" / "terraform" / "modules" / "platform" / "secrets.tf").read_text()
    assert wanted == {"ib-username", "ib-password"}
    assert all(f'"{name}"' in secrets_tf for name in wanted)


def test_scripts_are_valid_bash_and_the_bundle_carries_everything():
    for script in (GATEWAY / "setup.sh", GATEWAY / "healthcheck.sh", STARTUP, REPO_ROOT / "infra" / "bootstrap.sh"):
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, script
    names = set(zipfile.ZipFile(io.BytesIO(build_gateway_bundle())).namelist())
    assert {"requirements.txt", "gateway_vm/setup.sh", "gateway_vm/docker-compose.yml",
            "gateway_vm/mt-ibkr-bridge.service", "gateway_vm/bridge/__main__.py",
            "shared/adapters/brokers/ibkr/execution.py"} <= names


STARTUP = REPO_ROOT / "infra" / "terraform" / "modules" / "gateway_vm" / "startup.sh"


def test_a_new_bundle_reaches_the_vm_verified_and_without_a_manual_step():
    """Terraform names the bundle and its hash in the metadata; the startup script re-runs on a
    timer, installs only a bundle whose hash matches, and records it only after setup succeeded."""
    startup = STARTUP.read_text()
    vm = (REPO_ROOT / "infra" / "terraform" / "modules" / "gateway_vm" / "main.tf").read_text()
    used = set(re.findall(r"meta (mt-[a-z0-9-]+)", startup))
    assert used == {"mt-bundle-url", "mt-bundle-sha256", "mt-environment"}
    assert all(re.search(rf"^\s*{key}\s*=", vm, re.MULTILINE) for key in used)
    assert "sha256sum --check" in startup and "OnUnitActiveSec=5min" in startup
    assert "google_metadata_script_runner startup" in startup and "flock" in startup
    assert startup.index("setup.sh") < startup.index('> "$marker"')
    gateway_tf = (REPO_ROOT / "infra" / "terraform" / "modules" / "platform" / "gateway.tf").read_text()
    assert "filesha256(var.gateway_bundle)" in gateway_tf


def test_setup_waits_for_the_ib_login_and_retries_instead_of_failing_once():
    setup = (GATEWAY / "setup.sh").read_text()
    assert setup.index("has_secret ib-username") < setup.index("secret ib-password >")
    assert "exit 3" in setup and "systemctl restart mt-ibkr-bridge.service" in setup


def test_the_ops_agent_ships_the_journal():
    setup = (GATEWAY / "setup.sh").read_text()
    assert "google-cloud-ops-agent" in setup and "gateway_vm/ops-agent.yaml" in setup
    config = yaml.safe_load((GATEWAY / "ops-agent.yaml").read_text())
    assert config["logging"]["receivers"]["journald"]["type"] == "systemd_journald"
    monitoring = (REPO_ROOT / "infra" / "terraform" / "modules" / "platform" / "monitoring.tf").read_text()
    assert 'log_id(\\"journald\\")' in monitoring  # the receiver's id is the log name the metrics read
    names = set(zipfile.ZipFile(io.BytesIO(build_gateway_bundle())).namelist())
    assert "gateway_vm/ops-agent.yaml" in names


def test_scripts_are_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("SKIPPED: shellcheck is not installed (apt-get install shellcheck)")
    scripts = [GATEWAY / "setup.sh", GATEWAY / "healthcheck.sh", STARTUP, REPO_ROOT / "infra" / "bootstrap.sh"]
    result = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout
