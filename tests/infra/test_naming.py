"""Every resource name Terraform would send, expanded for both environments, obeys its API's
rules. A 31-character service-account id once failed the production plan; only a real
plan would have shown it, and no plan runs here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.domain.models import Topics
from tests.infra.terraform_model import (
    PLATFORM,
    TERRAFORM,
    declared_functions,
    one,
    platform_locals,
    resources,
    unquote,
)

ENVIRONMENTS = ("staging", "production")
LONGEST_PROJECT_ID = "p" * 30  # GCP allows 6-30 characters
RFC1035 = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
# resource type -> (the attribute holding its name, the rule, what the rule is)
RULES: dict[str, tuple[str, str, str]] = {
    "google_service_account": ("account_id", r"[a-z][a-z0-9-]{4,28}[a-z0-9]", "6-30 of [a-z0-9-]"),
    "google_pubsub_topic": ("name", r"(?!goog)[A-Za-z][A-Za-z0-9._~+%-]{2,254}", "Pub/Sub name"),
    "google_pubsub_subscription": ("name", r"(?!goog)[A-Za-z][A-Za-z0-9._~+%-]{2,254}", "Pub/Sub name"),
    "google_cloudfunctions2_function": ("name", r"[a-z]([a-z0-9-]{0,47}[a-z0-9])?", "<= 49, as its Cloud Run service"),
    "google_cloud_run_v2_service": ("name", r"[a-z]([a-z0-9-]{0,47}[a-z0-9])?", "Cloud Run service name <= 49"),
    "google_secret_manager_secret": ("secret_id", r"[A-Za-z0-9_-]{1,255}", "secret id"),
    "google_cloud_scheduler_job": ("name", r"[A-Za-z0-9_-]{1,500}", "Scheduler job name"),
    "google_storage_bucket": ("name", r"[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]", "bucket name <= 63"),
    "google_logging_metric": ("name", r"[A-Za-z0-9_./-]{1,100}", "log-based metric name"),
    "google_compute_network": ("name", RFC1035, "RFC 1035 <= 63"),
    "google_compute_subnetwork": ("name", RFC1035, "RFC 1035 <= 63"),
    "google_compute_router": ("name", RFC1035, "RFC 1035 <= 63"),
    "google_compute_router_nat": ("name", RFC1035, "RFC 1035 <= 63"),
    "google_compute_firewall": ("name", RFC1035, "RFC 1035 <= 63"),
    "google_compute_instance": ("name", RFC1035, "RFC 1035 <= 63"),
}


def _domain(for_each: Any) -> list[dict[str, str]]:
    """The (each.key, each.value...) bindings a for_each expands to, for the maps the module uses."""
    text = str(one(for_each)) if for_each is not None else ""
    functions = declared_functions()
    if not text:
        return [{}]
    if text == "${local.functions}":
        return [{"each.key": name} for name in functions]
    if text == "${local.topics}":
        return [{"each.key": t.value, "each.value": t.value} for t in Topics]
    if text == "${local.secrets}":
        ids = {env.lower().replace("_", "-") for f in functions.values() for env in f.secret_env}
        return [{"each.key": s, "each.value": s} for s in ids]
    if text == "${local.push_subscriptions}":
        return [{"each.value.topic": t, "each.value.function": n}
                for n, f in functions.items() for t in f.trigger_topics]
    if text.startswith("${local.") and text[8:-1] in platform_locals():
        return [{"each.key": unquote(k)} for k in one(platform_locals()[text[8:-1]])]
    if literal := re.fullmatch(r"\$\{toset\(\[(.*)\]\)\}", text):
        return [{"each.key": v, "each.value": v} for v in re.findall(r'"([^"]+)"', literal.group(1))]
    raise AssertionError(f"test_naming cannot expand for_each = {text}: teach _domain about it")


def render(template: str, environment: str, binding: dict[str, str], extra: dict[str, str]) -> str:
    # env_short = { staging = "stg", production = "prod" }[var.environment]
    env_short = dict(re.findall(r'(\w+)\s*=\s*"([\w-]+)"', str(platform_locals()["env_short"])))
    values = {"var.environment": environment, "local.env_short": env_short[environment],
              "var.project_id": LONGEST_PROJECT_ID, **binding, **extra}

    def substitute(match: re.Match[str]) -> str:
        expression = match.group(1)
        if replaced := re.fullmatch(r'replace\(([\w.]+), "_", "-"\)', expression):
            return values[replaced.group(1)].replace("_", "-")
        if expression not in values:
            raise AssertionError(f"test_naming cannot render ${{{expression}}} in {template}")
        return values[expression]

    return re.sub(r"\$\{([^}]+)\}", substitute, template)


def expanded_names() -> Iterator[tuple[str, str, str, Path]]:
    """(resource type, environment, rendered name, file) for every named resource."""
    function_module = TERRAFORM / "modules" / "function"
    for folder in (PLATFORM, function_module, TERRAFORM / "modules" / "gateway_vm"):
        for kind, _name, body, path in resources(folder):
            if kind not in RULES or RULES[kind][0] not in body:
                continue
            template = unquote(body[RULES[kind][0]])
            extras = [{"var.name": n} for n in declared_functions()] if folder == function_module else [{}]
            for environment in ENVIRONMENTS:
                for binding in _domain(body.get("for_each")):
                    for extra in extras:
                        yield kind, environment, render(template, environment, binding, extra), path


def test_every_kind_of_named_resource_is_checked():
    kinds = {kind for kind, *_ in expanded_names()}
    assert {"google_service_account", "google_pubsub_topic", "google_pubsub_subscription",
            "google_cloudfunctions2_function", "google_secret_manager_secret"} <= kinds


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_names_follow_their_rules(environment: str):
    bad = []
    seen: dict[tuple[str, str], Path] = {}
    for kind, env, name, path in expanded_names():
        if env != environment:
            continue
        rule = RULES[kind]
        if not re.fullmatch(rule[1], name):
            bad.append(f"{kind} {name!r} ({len(name)} chars, {path.name}): {rule[2]}")
        duplicate = (kind, name) in seen and not kind.startswith("google_cloudfunctions2")
        assert not duplicate or seen[(kind, name)] == path, f"{kind} {name} declared twice"
        seen[(kind, name)] = path
    assert bad == []


def test_function_service_accounts_fit_for_the_longest_function_name():
    longest = max(declared_functions(), key=len)
    for environment in ENVIRONMENTS:
        ids = [name for kind, env, name, _ in expanded_names()
               if kind == "google_service_account" and env == environment]
        assert any(longest.replace("_", "-") in i for i in ids)
        assert all(6 <= len(i) <= 30 for i in ids), ids


def test_topic_names_are_the_codes():
    names = {name for kind, env, name, _ in expanded_names() if kind == "google_pubsub_topic" and env == "production"}
    assert names == {t.value for t in Topics} | {t.dead_letter for t in Topics}
