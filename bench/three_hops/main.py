"""The benchmark's empty handler: forward each push to the next hop, record the last.

hop-1 -> hop-2 -> hop-3 -> a line in $HOPS_RECORD ("<message-id> <epoch seconds>").
A message may carry ``fanout`` (default 1): hop 2 then publishes that many messages to
hop 3, ids "<id>.<k>", as cerebro fans a signal out to its accounts' orders.
"""

import base64
import json
import os
import time

import functions_framework
from cloudevents.http import CloudEvent
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.types import BatchSettings

_publisher = pubsub_v1.PublisherClient(batch_settings=BatchSettings(max_messages=1, max_latency=0))
_NEXT = {"hop-1": "hop-2", "hop-2": "hop-3"}


@functions_framework.cloud_event
def hop(event: CloudEvent) -> None:
    message = event.data["message"]
    topic = message["attributes"]["hop"]
    payload = json.loads(base64.b64decode(message["data"]))
    if topic in _NEXT:
        path = _publisher.topic_path(os.environ["GOOGLE_CLOUD_PROJECT"], _NEXT[topic])
        fanout = int(payload.get("fanout", 1)) if topic == "hop-2" else 1
        ids = [payload["id"]] if fanout == 1 else [f"{payload['id']}.{k}" for k in range(fanout)]
        futures = [_publisher.publish(path, json.dumps({**payload, "id": one}).encode(), hop=_NEXT[topic])
                   for one in ids]
        for future in futures:
            future.result()
        return
    with open(os.environ["HOPS_RECORD"], "a") as record:
        record.write(f"{payload['id']} {time.time()}\n")
