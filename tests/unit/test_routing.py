"""The routing table (shared/entrypoints/routing.py) routes what the four hand-written copies
routed before it replaced them: the in-process pipeline, the emulated stack and Terraform
(tests/infra checks functions.tf against it)."""

from __future__ import annotations

from shared.domain.models import Topics
from shared.entrypoints.routing import FUNCTIONS, OnPoison, Signature, Stack, routes

DEAD_LETTERS = (Topics.SIGNALS.dead_letter, Topics.ORDERS.dead_letter, Topics.CONFIRMATIONS.dead_letter)


def test_every_handler_resolves_and_every_event_function_has_one():
    for function in FUNCTIONS.values():
        assert bool(function.handler) == bool(function.subscriptions), function.name
        if function.handler:
            assert callable(function.resolve()), function.name


def test_a_function_that_dead_letters_its_poison_has_one_trigger():
    """A push does not say its topic; ``serve`` dead-letters to its only trigger's dead letter."""
    for function in FUNCTIONS.values():
        if function.handler and function.on_poison is OnPoison.DEAD_LETTER:
            assert len(function.topics(Stack.CLOUD)) == 1, function.name


def test_the_embedded_pipeline_subscribes_as_it_did():
    assert [(topic, function.name) for topic, function in routes(Stack.EMBEDDED)] == [
        (Topics.SIGNALS, "cerebro"), (Topics.ORDERS, "execution"), (Topics.CONFIRMATIONS, "confirmations"),
        *[(topic, "notifier") for topic in (Topics.CONFIRMATIONS, Topics.NOTIFICATIONS, *DEAD_LETTERS)],
    ]


def test_the_emulated_stack_runs_what_it_ran():
    """devstack/emulated.py's FUNCTIONS as it was written out by hand."""
    before = {
        "webhook": ("http", ()),
        "cerebro": ("cloudevent", (Topics.SIGNALS,)),
        "execution": ("cloudevent", (Topics.ORDERS,)),
        "confirmations": ("cloudevent", (Topics.CONFIRMATIONS,)),
        "account_poller": ("http", ()),
        "strategy_registry": ("http", ()),
        "raw_signals": ("firestore", ()),
        "dashboard_creator": ("cloudevent", (Topics.CONFIRMATIONS, Topics.DASHBOARD_REFRESH)),
        "notifier": ("cloudevent", (Topics.CONFIRMATIONS, Topics.NOTIFICATIONS, *DEAD_LETTERS)),
    }
    assert {name: (f.signature.value, f.topics(Stack.EMULATED)) for name, f in FUNCTIONS.items()} == before
    assert list(FUNCTIONS) == list(before)  # the start order
    assert {f.signature.framework for f in FUNCTIONS.values() if f.signature is Signature.FIRESTORE} == {"cloudevent"}
