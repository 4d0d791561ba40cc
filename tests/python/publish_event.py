#!/usr/bin/env python3
"""Publishes one `instadash.vehicle.trouble-codes` event to Instadash, as a client in another
language would: pika for AMQP 0-9-1, the official CloudEvents SDK for the envelope, and nothing
but the wire format documented in schemas/README.md.

    publish_event.py AMQP_URL VEHICLE_ID [--invalid] [--app-id NAME]

On success it prints what it sent as one JSON object (id, source, type, subject, dataschema,
time_ms, traceparent, routing_key, data) and exits 0. It exits non-zero if the broker does not
confirm the message, returns it as unroutable, or refuses it.

With --invalid the payload breaks the schema on purpose (a trouble code that does not match
`^[PCBU][0-3][0-9A-F]{3}$`), so consumers must dead-letter it.
"""

import argparse
import json
import os
import secrets
import sys
import time

import pika
import pika.exceptions

# The SDK's AMQP protocol binding (CloudEvents AMQP binding spec): binary mode puts every
# attribute in the application properties as `cloudEvents_<name>`, `datacontenttype` in the
# `content-type` property, and `time` as an integer of milliseconds since the epoch. That is the
# Instadash convention (BRIEF §2, schemas/README.md). The same SDK also ships
# `cloudevents.core.bindings.rabbitmq`, which writes `ce-<name>` headers instead (the Knative
# eventing-rabbitmq convention): Instadash does not read that one.
from cloudevents.core.bindings import amqp
from cloudevents.core.v1.event import CloudEvent

EXCHANGE = "instadash.events"
EVENT_TYPE = "instadash.vehicle.trouble-codes"
DATASCHEMA = f"urn:instadash:schema:{EVENT_TYPE}:v1"
# The code that --invalid adds: not a valid OBD-II trouble code.
BAD_CODE = "X9999"


def routing_key(event_type: str, subject: str | None) -> str:
    """`<type>.<subject>`, the subject as one topic word (`.`, `*`, `#` become `_`)."""
    if not subject:
        return f"{event_type}._"
    return f"{event_type}.{subject.translate(str.maketrans('.*#', '___'))}"


def new_traceparent() -> str:
    """A W3C Trace Context `traceparent` starting a new, sampled trace."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def trouble_codes(vehicle_id: str, invalid: bool) -> dict:
    """A payload for schemas/vehicle/trouble-codes.v1.schema.json."""
    codes = ["P0301", "P0171"]
    if invalid:
        codes.append(BAD_CODE)
    return {
        "vehicle_id": vehicle_id,
        "time_ms": int(time.time() * 1000),
        "mil_on": True,
        "codes": codes,
    }


def build_event(vehicle_id: str, invalid: bool, app_id: str) -> CloudEvent:
    # The SDK fills in specversion 1.0, a UUID id and the current time.
    return CloudEvent(
        attributes={
            "type": EVENT_TYPE,
            "source": f"/{app_id}/{os.getpid()}",
            "subject": vehicle_id,
            "dataschema": DATASCHEMA,
            "datacontenttype": "application/json",
        },
        data=trouble_codes(vehicle_id, invalid),
    )


def publish(url: str, event: CloudEvent, app_id: str, traceparent: str) -> str:
    """Publishes `event` in binary mode, persistent and mandatory, and waits for the broker's
    confirm. Returns the routing key. Raises pika's errors if it is not confirmed."""
    message = amqp.to_binary_event(event)
    # The binding is written for AMQP 1.0; in AMQP 0-9-1 application properties are the headers
    # table and `content-type` is the `content_type` property.
    headers = dict(message.application_properties)
    # Trace context travels as plain W3C headers beside the CloudEvents attributes.
    headers["traceparent"] = traceparent
    properties = pika.BasicProperties(
        content_type=message.properties[amqp.CONTENT_TYPE_PROPERTY],
        message_id=event.get_id(),
        app_id=app_id,
        timestamp=int(event.get_time().timestamp()),
        delivery_mode=pika.DeliveryMode.Persistent,
        headers=headers,
    )
    key = routing_key(event.get_type(), event.get_subject())
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        # With confirms on, this blocks until the broker acks, and raises UnroutableError if the
        # message reached no queue (mandatory) or NackError if the broker refused it.
        channel.basic_publish(
            exchange=EXCHANGE,
            routing_key=key,
            body=message.application_data,
            properties=properties,
            mandatory=True,
        )
    return key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("amqp_url", help="e.g. amqp://guest:guest@127.0.0.1:5672/%%2f")
    parser.add_argument("vehicle_id", help="the vehicle the trouble codes are about")
    parser.add_argument(
        "--invalid",
        action="store_true",
        help=f"add the trouble code {BAD_CODE}, which breaks the schema",
    )
    parser.add_argument("--app-id", default="python-client", help="the sender's service name")
    args = parser.parse_args()

    event = build_event(args.vehicle_id, args.invalid, args.app_id)
    traceparent = new_traceparent()
    try:
        key = publish(args.amqp_url, event, args.app_id, traceparent)
    except pika.exceptions.UnroutableError:
        print(f"not delivered: no queue is bound to {EXCHANGE} for this event", file=sys.stderr)
        return 3
    except pika.exceptions.NackError:
        print("not delivered: the broker refused the message (nack)", file=sys.stderr)
        return 4
    except pika.exceptions.AMQPError as error:
        print(f"not delivered: {error!r}", file=sys.stderr)
        return 5

    print(
        json.dumps(
            {
                "id": event.get_id(),
                "source": event.get_source(),
                "type": event.get_type(),
                "subject": event.get_subject(),
                "dataschema": event.get_dataschema(),
                "time_ms": int(event.get_time().timestamp() * 1000),
                "traceparent": traceparent,
                "routing_key": key,
                "data": event.get_data(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
