"""Firestore's Eventarc CloudEvents: ``DocumentEventData`` protobuf bodies, both ways.

GCP delivers ``google.cloud.firestore.document.v1.*`` events with a protobuf body
(``google.events.cloud.firestore.v1.DocumentEventData``). Its ``Document`` and ``Value``
messages carry the same field numbers as the Firestore API's, so the client library's own
types decode it, with no extra package. The emulated stack encodes the same bytes (there is
no Eventarc there), so the function under test parses what GCP sends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import proto
from google.cloud.firestore_v1 import _helpers
from google.cloud.firestore_v1.types import Document as FirestoreDocument

CREATED = "google.cloud.firestore.document.v1.created"


class DocumentEventData(proto.Message):
    """The event body: the document after (``value``) and before (``old_value``) the change."""

    value = proto.Field(proto.MESSAGE, number=1, message=FirestoreDocument)
    old_value = proto.Field(proto.MESSAGE, number=2, message=FirestoreDocument)


@dataclass(frozen=True)
class DocumentEvent:
    collection: str
    doc_id: str
    fields: dict[str, Any]


def decode(data: bytes) -> DocumentEvent | None:
    """The created or updated document, or None for a deletion (no ``value``)."""
    event = DocumentEventData.deserialize(data)
    if not event.value.name:
        return None
    path = event.value.name.split("/documents/", 1)[1]
    collection, _, doc_id = path.rpartition("/")
    return DocumentEvent(collection, doc_id, _helpers.decode_dict(event.value.fields, None))


def created_event(project: str, collection: str, doc_id: str, fields: dict[str, Any],
                  database: str = "(default)") -> tuple[dict[str, str], bytes]:
    """Binary-mode CloudEvent headers and protobuf body, as Eventarc posts a document creation."""
    name = f"projects/{project}/databases/{database}/documents/{collection}/{doc_id}"
    now = datetime.now(UTC)
    document = FirestoreDocument(name=name, fields=_helpers.encode_dict(fields), create_time=now, update_time=now)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-type": CREATED,
        "ce-source": f"//firestore.googleapis.com/projects/{project}/databases/{database}",
        "ce-subject": f"documents/{collection}/{doc_id}",
        "ce-time": now.isoformat().replace("+00:00", "Z"),
        "ce-database": database,
        "ce-namespace": "(default)",
        "ce-document": f"{collection}/{doc_id}",
        "ce-location": "emulated",
        "ce-project": project,
        "Content-Type": "application/protobuf",
    }
    return headers, DocumentEventData.serialize(DocumentEventData(value=document))
