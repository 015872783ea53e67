"""What an apply into an empty project needs, checked offline: formatting, every resource
waiting for its API, secrets mounted only once they have a version, the dashboards behind IAP
without data access, the image's build context, and the operations resources."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devstack.processes import REPO_ROOT
from tests.infra.terraform_model import PLATFORM, TERRAFORM, load, platform_locals, resources, unquote


def test_terraform_fmt_check_passes():
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("SKIPPED: terraform is not installed, so `terraform fmt -check -recursive` cannot run")
    result = subprocess.run([terraform, "fmt", "-check", "-recursive", str(TERRAFORM)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"not formatted (run terraform fmt -recursive infra/terraform):\n{result.stdout}"


def _waits_for_apis() -> dict[str, bool]:
    """resource address -> whether it waits for google_project_service.api, directly or through
    a resource or module it references (which does)."""
    bodies = {f"{kind}.{name}": str(body) for kind, name, body, _ in resources(PLATFORM)}
    for block in load(PLATFORM / "functions.tf").get("module", []) + load(PLATFORM / "gateway.tf").get("module", []):
        bodies.update({f"module.{name}": str(body) for name, body in block.items() if not name.startswith("__")})
    bodies.update({f"local.{name}": str(value) for name, value in platform_locals().items()})
    waits = {address: "google_project_service.api" in body for address, body in bodies.items()}
    waits["google_project_service.api"] = True
    changed = True
    while changed:
        changed = False
        for address, body in bodies.items():
            if not waits[address] and any(waits[other] and re.search(rf"\b{re.escape(other)}\b", body)
                                          for other in bodies if other != address):
                waits[address] = changed = True
    return {address: wait for address, wait in waits.items() if not address.startswith("local.")}


def test_every_resource_waits_for_its_api():
    late = [address for address, waits in _waits_for_apis().items() if not waits]
    assert late == [], f"these do not depend on google_project_service.api: {late}"


def test_functions_mount_only_secrets_that_have_a_version():
    mounted = str(platform_locals()["mounted_secrets"])
    assert "var.configured_secrets" in mounted
    call = load(PLATFORM / "functions.tf")["module"][0]["function"]
    assert "local.mounted_secrets" in str(call["secrets"])
    assert "function_secret" in str(call["depends_on"])  # readable before the function deploys


def test_the_dashboards_are_behind_iap_and_hold_no_data_access():
    dashboards = {f"{kind}.{name}": body for kind, name, body, path in resources(PLATFORM)
                  if path.name == "dashboards.tf"}
    service = dashboards["google_cloud_run_v2_service.dashboards"]
    assert service["iap_enabled"] is True or unquote(service["iap_enabled"]) == "true"
    viewers = [b for a, b in dashboards.items() if a.startswith("google_iap_web_cloud_run_service_iam_member")]
    assert viewers and all(unquote(v["role"]) == "roles/iap.httpsResourceAccessor" for v in viewers)
    text = (PLATFORM / "dashboards.tf").read_text()
    assert "datastore" not in text and "MT_API_URL" in text
    assert "allUsers" not in text


def test_the_image_build_context_leaves_out_the_heavy_and_private_folders():
    ignored = {line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", ".venv-checkov", "logs", "build", "data", ".git"} <= ignored
    dockerfile = (REPO_ROOT / "dashboards_streamlit" / "Dockerfile").read_text()
    copied = {source for line in re.findall(r"^COPY (.+)$", dockerfile, re.MULTILINE)
              for source in line.split()[:-1] if not source.startswith("--")}
    assert copied and not any(Path(source).parts[0] in ignored for source in copied), copied


def test_operations_are_declared():
    kinds = {kind for kind, *_ in resources(PLATFORM)}
    assert {"google_monitoring_uptime_check_config", "google_monitoring_alert_policy", "google_logging_metric",
            "google_billing_budget", "google_monitoring_notification_channel"} <= kinds
    monitoring = (PLATFORM / "monitoring.tf").read_text()
    for policy in ("dead-letters", "stale-account-data", "bridge-unhealthy", "reconciliation-breaks",
                   "order latency p99", "function 5xx", "webhook uptime"):
        assert policy in monitoring, policy
    uptime = next(b for k, _n, b, _ in resources(PLATFORM) if k == "google_monitoring_uptime_check_config")
    assert 'module.function["webhook"]' in str(uptime["monitored_resource"])


def test_journey_metrics_match_the_journey_services():
    """Each journey metric names a service the code logs journey steps as."""
    source = "\n".join(p.read_text() for p in (REPO_ROOT / "shared").rglob("*.py"))
    services = set(re.findall(r'Journey\("([A-Z]+)"\)', source))
    metrics = platform_locals()["journey_metrics"]
    assert metrics and {unquote(m["service"]) for m in metrics.values()} <= services
