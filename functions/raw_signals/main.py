"""Firestore-triggered function: a document created in trading_signals_raw by another
writer becomes a signal, exactly once (a retried or duplicated event finds it marked or
deduplicated). A refusal is recorded on the document and acknowledged; only a failure to
publish raises, so Eventarc retries it. An event that is not a Firestore document event
can never succeed, so it is logged and acknowledged."""

import logging

import functions_framework
from cloudevents.http import CloudEvent
from google.protobuf.message import DecodeError

from shared.adapters.firestore_events import decode
from shared.domain.models import Collections
from shared.runtime import services
from shared.services.raw_ingest import RawSignalIngest

log = logging.getLogger("raw_signals")


@functions_framework.cloud_event
def raw_signals(event: CloudEvent) -> None:
    if not isinstance(event.data, bytes):
        log.error("event %s is not a protobuf DocumentEventData (%s): ignored", event["id"], type(event.data))
        return
    try:
        document = decode(event.data)
    except (DecodeError, IndexError) as error:
        log.error("event %s does not decode as a Firestore document event (%s): ignored", event["id"], error)
        return
    if document is None or document.collection != Collections.RAW_SIGNALS:
        return
    app = services()
    RawSignalIngest(app.store, app.ingest, app.clock).process(document.doc_id, document.fields)
