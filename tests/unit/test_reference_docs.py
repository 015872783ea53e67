"""docs/messages.md and docs/schema.md are what the code says: regenerate them after changing
a bus message, the routing table or the store schema."""

from __future__ import annotations

import pytest

from devstack.reference_docs import DOCS, PAGES


@pytest.mark.parametrize("name", PAGES)
def test_the_committed_reference_is_the_generated_one(name):
    assert (DOCS / name).read_text(encoding="utf-8") == PAGES[name](), "run: python -m devstack.reference_docs"


def test_every_topic_and_collection_is_documented():
    from shared.domain.messages import TOPIC_MESSAGES
    from shared.domain.schema import Collections

    messages, schema = (DOCS / "messages.md").read_text(), (DOCS / "schema.md").read_text()
    assert all(f"## `{topic}`" in messages for topic in TOPIC_MESSAGES)
    assert all(f"| `{collection}` |" in schema for collection in Collections)
