"""Pub/Sub wiring in Terraform equals what the code does: each function and the bridge may
publish exactly where its code publishes (derived from the AST by code_routes), each topic a
function handles reaches it by a push subscription with a dead-letter policy, and every
dead letter reaches the notifier. Missing grants here broke the kill switch, flatten and
POST /api/signals once; this keeps them from coming back."""

from __future__ import annotations

import functools

from shared.domain.models import Topics
from shared.entrypoints.routing import FUNCTIONS, Signature, Stack
from tests.infra.code_routes import (
    Param,
    Unknown,
    all_publish_sites,
    bridge_subscriptions,
    entry_points,
    handled_topics,
    published_by_entry,
)
from tests.infra.terraform_model import PLATFORM, declared_functions, one, platform_locals, resource, strings, unquote

TOPICS = {t.value for t in Topics} | {t.dead_letter for t in Topics}


@functools.cache
def derived() -> tuple[dict[str, set], dict[str, set[str]]]:
    return published_by_entry()


def test_every_publish_in_the_code_resolves_to_a_topic():
    published, _sites = derived()
    for entry, facts in published.items():
        unresolved = [f for f in facts if isinstance(f, Unknown | Param)]
        assert unresolved == [], f"{entry}: publish with a topic the analysis cannot evaluate: {unresolved}"
        assert facts <= TOPICS, f"{entry} publishes to topics that do not exist: {facts - TOPICS}"


def test_every_publish_site_is_reached_by_a_deployed_entry_point():
    """A publish no entry point reaches means the call walk lost a path (so a grant could be missing)."""
    _published, sites = derived()
    assert all_publish_sites() - set(sites) == set()


def test_each_function_may_publish_exactly_where_its_code_publishes():
    published, _sites = derived()
    declared = declared_functions()
    assert set(declared) == set(entry_points()) - {"ibkr_bridge"}
    for name, function in declared.items():
        assert set(function.publishes) == published[name], (
            f"{name}: functions.tf publishes {sorted(function.publishes)}, the code {sorted(published[name])}")


def test_the_bridge_may_publish_exactly_where_its_code_publishes():
    published, _sites = derived()
    assert set(strings(platform_locals()["bridge_publishes"])) == published["ibkr_bridge"]
    grant = resource(PLATFORM / "pubsub.tf", "google_pubsub_topic_iam_member", "bridge_publishes")
    assert "local.bridge_publishes" in str(grant["for_each"]) and unquote(grant["role"]) == "roles/pubsub.publisher"


def test_publisher_grants_come_from_the_functions_map():
    grant = resource(PLATFORM / "iam.tf", "google_pubsub_topic_iam_member", "function_publisher")
    assert "local.function_publishes" in str(grant["for_each"]) and unquote(grant["role"]) == "roles/pubsub.publisher"
    assert "fn.publishes" in str(platform_locals()["function_publishes"])


def test_functions_handle_the_topics_they_are_triggered_by():
    declared = declared_functions()
    for name in entry_points():
        handled = handled_topics(name)
        if handled:  # serve -> run_handler(app, topic, ...): its trigger, whose dead letter it writes
            assert set(declared[name].trigger_topics) == handled, name
    for name, function in FUNCTIONS.items():
        assert set(function.topics(Stack.EMULATED)) <= set(declared[name].trigger_topics), name
        assert bool(declared[name].trigger_topics) == (function.signature is Signature.CLOUDEVENT), name


def test_every_dead_letter_that_can_receive_messages_reaches_the_notifier():
    """Dead letters come from the code (poison) and from Pub/Sub (after the attempts); the notifier
    announces and records them, except its own input's (notifications), which it cannot announce."""
    published, _sites = derived()
    declared = declared_functions()
    from_code = {t for facts in published.values() for t in facts if str(t).endswith("-dead-letter")}
    subscribed = {t for f in declared.values() for t in f.trigger_topics} | bridge_subscriptions()
    from_pubsub = {f"{t}-dead-letter" for t in subscribed if not t.endswith("-dead-letter")}
    expected = (from_code | from_pubsub) - {Topics.NOTIFICATIONS.dead_letter}
    assert expected - set(declared["notifier"].trigger_topics) == set()


def test_push_subscriptions_dead_letter_and_the_service_agent_may_move_them():
    push = resource(PLATFORM / "pubsub.tf", "google_pubsub_subscription", "push")
    assert "fn.trigger_topics" in str(platform_locals()["push_subscriptions"])
    assert "local.push_subscriptions" in str(push["for_each"])
    dead_letter = one(one(push["dynamic"])["dead_letter_policy"])
    assert "-dead-letter" in one(dead_letter["for_each"])
    publisher = resource(PLATFORM / "pubsub.tf", "google_pubsub_topic_iam_member", "dead_letter_publisher")
    assert "local.pubsub_service_agent" in str(publisher["member"]) and "local.topics" in str(publisher["for_each"])
    subscriber = resource(PLATFORM / "pubsub.tf", "google_pubsub_subscription_iam_member", "dead_letter_subscriber")
    assert "local.push_subscriptions" in str(subscriber["for_each"])
    assert unquote(subscriber["role"]) == "roles/pubsub.subscriber"


def test_the_bridge_subscription_pulls_what_the_bridge_subscribes_to_and_dead_letters():
    bridge = resource(PLATFORM / "pubsub.tf", "google_pubsub_subscription", "ibkr_bridge")
    assert bridge_subscriptions() == {Topics.IBKR_ORDERS.value}
    assert 'topic["ibkr-orders"]' in str(bridge["topic"])
    assert 'dead_letter["ibkr-orders"]' in str(one(bridge["dead_letter_policy"])["dead_letter_topic"])
    agent = resource(PLATFORM / "pubsub.tf", "google_pubsub_subscription_iam_member", "bridge_dead_letter_subscriber")
    assert "google_pubsub_subscription.ibkr_bridge" in str(agent["subscription"])
    assert "local.pubsub_service_agent" in str(agent["member"]) and unquote(agent["role"]) == "roles/pubsub.subscriber"


def test_service_agent_grants_wait_for_the_agent():
    """The Pub/Sub agent is created lazily: every grant to it goes through the service identity."""
    assert "google_project_service_identity.pubsub" in str(platform_locals()["pubsub_service_agent"])
    text = "\n".join(p.read_text() for p in PLATFORM.glob("*.tf"))
    assert "gcp-sa-pubsub" not in text, "name the agent through google_project_service_identity.pubsub"
