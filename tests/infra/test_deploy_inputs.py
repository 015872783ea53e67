"""Cloud Build can plan every environment: each required variable (no default) is supplied by
its -var flags or the environment's committed terraform.tfvars, and only the intended builds
apply (staging on main, production on a release tag or an explicit _APPLY=true)."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from devstack.processes import REPO_ROOT
from tests.infra.terraform_model import PLATFORM, TERRAFORM, module_call, tfvars, variables

ENVIRONMENTS = ("staging", "production")


def terraform_step() -> str:
    build = yaml.safe_load((REPO_ROOT / "cloudbuild.yaml").read_text())
    step = next(s for s in build["steps"] if s["id"] == "terraform")
    assert step["dir"] == "infra/terraform/environments/$_ENVIRONMENT"  # where terraform.tfvars is read
    return step["args"][-1]


def cloud_build_vars() -> set[str]:
    return set(re.findall(r'-var="?([a-z_]+)=', terraform_step()))


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_required_variable_is_supplied(environment: str):
    root = TERRAFORM / "environments" / environment
    declared = variables(root)
    required = {name for name, body in declared.items() if "default" not in body}
    committed = set(tfvars(root / "terraform.tfvars"))
    assert required - cloud_build_vars() - committed == set(), f"{environment}: nothing supplies these"
    assert (committed | cloud_build_vars()) - set(declared) == set(), f"{environment}: values for undeclared variables"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_root_passes_every_required_platform_variable(environment: str):
    call = module_call(TERRAFORM / "environments" / environment / "main.tf", "platform")
    required = {name for name, body in variables(PLATFORM).items() if "default" not in body}
    assert required - set(call) == set()
    assert set(call) - {"source"} <= set(variables(PLATFORM))


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_committed_placeholders_are_refused_by_validation(environment: str):
    """The committed values are placeholders an operator must replace: the validations refuse
    them, so a plan never deploys them silently."""
    committed = tfvars(TERRAFORM / "environments" / environment / "terraform.tfvars")
    platform = variables(PLATFORM)
    for name in ("telegram_chat_id", "dashboard_invokers", "alert_emails"):
        assert name in committed and "validation" in platform[name], name


def _applies(environment: str, branch: str = "", tag: str = "", apply: str = "false") -> bool:
    script = terraform_step()
    decision = script[script.index("apply=no"):]
    decision = re.sub(r"terraform apply [^;]*;", "echo APPLY;", decision)
    env = {"PATH": "/usr/bin:/bin", "_ENVIRONMENT": environment, "BRANCH_NAME": branch, "TAG_NAME": tag,
           "_APPLY": apply}
    result = subprocess.run(["sh", "-ceu", decision], env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    return "APPLY" in result.stdout


def test_staging_applies_on_main_and_production_only_on_a_tag_or_explicit_apply():
    assert _applies("staging", branch="main")
    assert not _applies("staging", branch="feature")
    assert not _applies("production", branch="main")
    assert not _applies("production", branch="feature")
    assert _applies("production", tag="v1.4.0")
    assert _applies("production", apply="true")
    assert "_APPLY" in yaml.safe_load((REPO_ROOT / "cloudbuild.yaml").read_text())["substitutions"]


def test_the_image_tag_exists_in_every_kind_of_build():
    """SHORT_SHA is empty in a manual build; BUILD_ID never is."""
    assert "SHORT_SHA" not in (REPO_ROOT / "cloudbuild.yaml").read_text()


def test_the_runbook_uses_only_what_exists():
    """docs/deploy.md's bootstrap commands, secrets and outputs exist in the script and Terraform."""
    runbook = (REPO_ROOT / "docs" / "deploy.md").read_text()
    script = (REPO_ROOT / "infra" / "bootstrap.sh").read_text()
    commands = set(re.findall(r"infra/bootstrap\.sh (\w+)", runbook))
    branches = set(re.findall(r"^  (\w+)\)$", script, re.MULTILINE))
    assert commands and commands <= branches, commands - branches
    for step in ("project", "secrets", "secret", "deploy", "triggers", "admin", "urls"):
        assert f"infra/bootstrap.sh {step}" in runbook, step
    order = [runbook.index(f"## {n}.") for n in range(1, 8)]
    assert order == sorted(order)
    secrets_tf = (PLATFORM / "secrets.tf").read_text() + (PLATFORM / "functions.tf").read_text()
    for name in set(re.findall(r"secret staging my-fund-staging ([a-z-]+)", runbook)):
        assert name in secrets_tf or name.upper().replace("-", "_") in secrets_tf, name
    outputs = (TERRAFORM / "environments" / "staging" / "main.tf").read_text()
    for output in re.findall(r"for output in ([\w ]+); do", script)[0].split():
        assert f'output "{output}"' in outputs, output
