"""Terraform and the code agree, both ways: every function, topic, subscription,
setting and secret the code uses is declared, and nothing declared is unused. (Who may
publish where is derived from the code in test_topic_routes.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from devstack.emulated import MAX_DELIVERY_ATTEMPTS
from devstack.processes import REPO_ROOT
from shared.config import CLOUD_SETTINGS, GATEWAY_SETTINGS, LOCAL_ONLY_SETTINGS, SECRET_SETTINGS
from shared.domain.models import Topics
from shared.entrypoints.routing import FUNCTIONS, Signature, Stack
from tests.infra.terraform_model import (
    PLATFORM,
    declared_environment,
    declared_functions,
    declared_topics,
    one,
    resource,
    unquote,
)


def code_entry_points() -> dict[str, str]:
    """functions/<name>/main.py -> the name of its functions_framework-decorated function."""
    found = {}
    for main in sorted((REPO_ROOT / "functions").glob("*/main.py")):
        tree = ast.parse(main.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and any("functions_framework" in ast.unparse(d)
                                                         for d in node.decorator_list):
                found[main.parent.name] = node.name
    return found


def test_every_function_in_the_code_is_declared_and_nothing_else():
    declared = declared_functions()
    assert {n: f.entry_point for n, f in declared.items()} == code_entry_points()


def test_functions_tf_is_the_routing_table():
    """functions.tf's map is Terraform's copy of shared/entrypoints/routing.py: the same
    functions, each triggered by exactly the topics the table routes to it in GCP, and by
    Firestore document creations exactly when the table says its signature is ``firestore``."""
    declared = declared_functions()
    assert set(declared) == set(FUNCTIONS)
    for name, function in FUNCTIONS.items():
        assert sorted(declared[name].trigger_topics) == sorted(function.topics(Stack.CLOUD)), name
        assert (declared[name].firestore_trigger is not None) == (function.signature is Signature.FIRESTORE), name
        if function.signature is Signature.FIRESTORE:
            assert declared[name].firestore_trigger.split("/")[0] == "trading_signals_raw", name


def test_triggers_match_the_emulated_topology():
    """As emulated, plus in GCP the dead letters the emulated stack never produces (dashboard
    refresh and the bridge's), which the notifier also announces (test_topic_routes)."""
    declared = declared_functions()
    emulated = {name: set(function.topics(Stack.EMULATED)) for name, function in FUNCTIONS.items()}
    for name, function in declared.items():
        extra = set(function.trigger_topics) - emulated[name]
        assert emulated[name] <= set(function.trigger_topics), name
        assert extra == set() or (name == "notifier" and all(t.endswith("-dead-letter") for t in extra)), name


def test_topics_and_dead_letters_match_the_code():
    assert declared_topics() == {t.value for t in Topics}
    pubsub = (PLATFORM / "pubsub.tf").read_text()
    assert '"${each.value}-dead-letter"' in pubsub
    assert all(t.dead_letter == f"{t.value}-dead-letter" for t in Topics)


def test_each_event_function_has_a_push_subscription_with_dead_letter_and_retry():
    push = resource(PLATFORM / "pubsub.tf", "google_pubsub_subscription", "push")
    dead_letter = one(one(push["dynamic"])["dead_letter_policy"])
    assert one(one(dead_letter["content"])["max_delivery_attempts"]) == MAX_DELIVERY_ATTEMPTS  # as emulated
    assert "-dead-letter" in one(dead_letter["for_each"])  # dead-letter topics' own subscriptions are exempt
    assert unquote(one(push["retry_policy"])["maximum_backoff"]) == "60s"
    assert one(one(push["push_config"])["oidc_token"])
    event_functions = {n for n, f in declared_functions().items() if f.trigger_topics}
    assert event_functions == {n for n, f in FUNCTIONS.items() if f.signature is Signature.CLOUDEVENT}


def test_settings_read_by_the_code_are_declared_and_all_declared_are_read():
    assert declared_environment() == set(CLOUD_SETTINGS)
    source = "\n".join(p.read_text() for p in (REPO_ROOT / "shared").rglob("*.py"))
    read = set(re.findall(r'(?:number|env\.get|environ\.get|getenv)\(\s*"([A-Z][A-Z0-9_]+)"', source))
    read |= {"GOOGLE_CLOUD_PROJECT"}
    assert read - set(CLOUD_SETTINGS) - set(LOCAL_ONLY_SETTINGS) - set(SECRET_SETTINGS) - set(GATEWAY_SETTINGS) == set()
    assert set(CLOUD_SETTINGS) - read == set()


def test_secrets_are_exactly_the_secret_settings_the_code_reads():
    declared = {env_name for f in declared_functions().values() for env_name in f.secret_env}
    assert declared == set(SECRET_SETTINGS)
    source = "\n".join(p.read_text() for p in Path(REPO_ROOT / "shared").rglob("*.py"))
    assert all(f'"{name}"' in source for name in SECRET_SETTINGS)


def test_the_ibkr_bridge_pulls_the_topic_execution_routes_to():
    from shared.services.execution_service import BRIDGED

    bridge = resource(PLATFORM / "pubsub.tf", "google_pubsub_subscription", "ibkr_bridge")
    assert unquote(one(bridge["name"])) == f"{BRIDGED['ibkr']}.bridge"  # PubSubBus(subscriber_name="bridge")
    assert one(one(bridge["dead_letter_policy"])["max_delivery_attempts"]) == MAX_DELIVERY_ATTEMPTS
    assert "ibkr-orders" in declared_functions()["execution"].publishes


def test_scheduled_messages_are_ones_the_code_handles(tmp_path):
    """Cloud Scheduler's Pub/Sub jobs publish payloads their consumers act on."""
    import json
    from datetime import UTC, datetime

    from shared.adapters.store_sqlite import SqliteStore
    from shared.domain.models import Environment
    from shared.services.notifier import NotifierService

    scheduler = (PLATFORM / "scheduler.tf").read_text()
    jobs = {topic: json.loads(re.sub(r"(\w+)\s*=", r'"\1":', payload)) for topic, payload in re.findall(
        r'topic\["([a-z-]+)"\]\.id\s*\n\s*data\s*=\s*base64encode\(jsonencode\((\{[^)]*\})\)\)', scheduler)}
    assert jobs == {"dashboard-refresh": {"refresh": "all"}, "notifications": {"kind": "daily_summary"}}
    notifier = NotifierService(SqliteStore(str(tmp_path / "s.sqlite")), None, "", Environment.PRODUCTION,
                               lambda: datetime.now(UTC))
    assert notifier.format(jobs["notifications"]).startswith("📊 Last 24h: 0 signals")


def test_cerebro_reads_kite_quotes():
    """Cerebro sizes Zerodha accounts against Kite's quotes (PriceBook over the brokers
    build_services makes from ZERODHA_ACCOUNTS), so it needs the secret like execution does."""
    declared = declared_functions()
    for name in ("cerebro", "execution", "account_poller", "strategy_registry"):
        assert "ZERODHA_ACCOUNTS" in declared[name].secret_env, name
