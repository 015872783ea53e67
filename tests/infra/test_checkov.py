"""checkov over everything deployed (Terraform with every framework, secrets included; the
dashboards' Dockerfile; Cloud Build): no failed check, and every skip sits on the one resource
it is about, with a reason that is true of it."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest

from devstack.processes import REPO_ROOT
from tests.infra.terraform_model import TERRAFORM, declared_functions

# check id -> (the resources it may be skipped on, a word its reason must contain). A new skip
# must be added here with the reason it is true, or the test fails.
ALLOWED_SKIPS: dict[str, tuple[str, str]] = {
    "CKV_GCP_83": (r"google_pubsub_topic\.(topic|dead_letter)(\[.*\])?", "CMEK"),  # Google-managed keys
    "CKV_GCP_62": (r"google_storage_bucket\.function_source", "access logs"),
    "CKV_GCP_38": (r"google_compute_instance\.gateway", "encryption"),
    "CKV_GCP_124": (r"google_cloudfunctions2_function\.public(\[0\])?", "public"),
    "CKV_GCP_102": (r"google_cloud_run_service_iam_member\.public_invoker(\[0\])?", "public"),
}


def checkov_binary() -> str:
    candidate = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
    found = str(candidate) if candidate.exists() else shutil.which("checkov")
    if found is None:
        message = "checkov is not installed (make test installs it into .venv-checkov)"
        if os.environ.get("MT_REQUIRE_CHECKOV"):
            pytest.fail(message)
        pytest.skip(f"SKIPPED: {message}")
    return found


def _documents(text: str) -> list[dict[str, Any]]:
    """checkov prints one JSON document per target (or a list of them)."""
    decoder, position, found = json.JSONDecoder(), 0, []
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        document, position = decoder.raw_decode(text, position)
        found += document if isinstance(document, list) else [document]
    return found


@functools.cache
def reports() -> tuple[dict[str, Any], ...]:
    binary = checkov_binary()
    targets = [["-d", str(TERRAFORM)],
               ["-f", str(REPO_ROOT / "dashboards_streamlit" / "Dockerfile"), "-f", str(REPO_ROOT / "cloudbuild.yaml")]]
    found: list[dict[str, Any]] = []
    for target in targets:
        result = subprocess.run(
            [binary, *target, "--framework", "all", "--skip-download", "--output", "json"],
            capture_output=True, text=True, timeout=600, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
            cwd=REPO_ROOT,
        )
        assert result.stdout.strip(), result.stderr[-2000:]
        found += [d for d in _documents(result.stdout) if "results" in d]
    return tuple(found)


def test_checkov_finds_no_failed_check_in_any_framework():
    failed = [f"{r['check_type']} {c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range']})"
              for r in reports() for c in r["results"]["failed_checks"]]
    assert failed == []
    types = {r["check_type"] for r in reports()}
    assert {"terraform", "dockerfile"} <= types
    assert sum(r["summary"]["passed"] for r in reports() if r["check_type"] == "terraform") > 100


def test_every_skip_is_scoped_to_its_resource_with_a_true_reason():
    public = {name for name, f in declared_functions().items() if f.public}
    skipped = [c for r in reports() for c in r["results"].get("skipped_checks", [])]
    assert skipped
    for check in skipped:
        resource, check_id = check["resource"], check["check_id"]
        assert check_id in ALLOWED_SKIPS, f"unexpected skip {check_id} on {resource}"
        pattern, word = ALLOWED_SKIPS[check_id]
        local = re.sub(r"^(module\.[\w]+(\[\"[^\"]+\"\])?\.)+", "", resource)
        assert re.fullmatch(pattern, local), f"{check_id} skipped on {resource}, which it is not about"
        assert word.lower() in check["check_result"].get("suppress_comment", "").lower(), (check_id, resource)
        if check_id in ("CKV_GCP_102", "CKV_GCP_124") and resource.endswith("[0]"):  # a resource that exists
            function = re.search(r'module\.function\["(\w+)"\]', resource)
            assert function and function.group(1) in public, f"{check_id} silenced on internal {resource}"


def test_internal_functions_are_never_skipped():
    skipped = {c["resource"] for r in reports() for c in r["results"].get("skipped_checks", [])}
    assert not any("google_cloudfunctions2_function.internal" in resource for resource in skipped)


def test_every_skip_is_justified_inline():
    skips = []
    for path in TERRAFORM.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                skips.append((path.name, line.strip()))
    assert skips
    for filename, line in skips:
        match = re.search(r"checkov:skip=(CKV_[A-Z0-9_]+):\s*(.+)", line)
        assert match and len(match.group(2)) >= 30, f"{filename}: unjustified skip: {line}"
        assert match.group(1) in ALLOWED_SKIPS, f"{filename}: {match.group(1)} is not an allowed skip"
