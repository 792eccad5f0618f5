#!/usr/bin/env python3
"""A flowctl.v1 peer written in Python with grpcio and stubs generated from
flowctl's own proto/ files: it streams events through a ProcessorService
(`flowctl serve MODULE.wasm`, a passthrough module) and checks that every
output is its input, intact and in order. It also checks the standard
grpc.health.v1 service and server reflection.

Run it with the venv and stubs of scripts/python-grpc.sh:

    PY=$(scripts/python-grpc.sh)
    PYTHONPATH=target/python-grpc/gen $PY tests/peers/process_client.py --addr 127.0.0.1:50051

Exits 0 when everything matched; otherwise prints what differed and exits 1.
"""

import argparse
import json
import sys
import time

import grpc
from google.protobuf import empty_pb2
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from flowctl.v1 import common_pb2, processor_pb2_grpc

SERVICE = "flowctl.v1.ProcessorService"
SOURCE = "python-peer"


def make_event(i):
    """Event i: JSON (~300 bytes) or binary XDR-like payloads, some with an
    empty content_type, metadata, millisecond timestamps, some with cursors."""
    event = common_pb2.Event(
        id=f"py-{i:06d}",
        type="stellar.payment.v1" if i % 2 == 0 else "stellar.ledger.xdr.v1",
        metadata={"seq": str(i), "network": "testnet", "peer": "python"},
        source_component_id=SOURCE,
    )
    if i % 2 == 0:
        body = {
            "seq": i,
            "from": "GA" + "B" * 54,
            "to": "GC" + "D" * 54,
            "amount": f"{i * 1.25:.7f}",
            "asset": {"code": "USDC", "issuer": "GA5Z" + "Q" * 52},
            "memo": "payment number %d ünïcödé" % i,
            "ok": i % 4 == 0,
            "fee": None,
        }
        event.payload = json.dumps(body).encode()
        # Every tenth JSON event leaves content_type empty: JSON is recognised by parsing.
        event.content_type = "" if i % 10 == 0 else "application/json"
    else:
        # Every byte value, in an order that depends on i: not valid UTF-8, not JSON.
        event.payload = bytes((i * 7 + k * 31) % 256 for k in range(300))
        event.content_type = "application/x-xdr"
    event.timestamp.seconds = 1_700_000_000 + i
    event.timestamp.nanos = (i % 1000) * 1_000_000  # whole milliseconds: what flowctl keeps
    if i % 3 == 0:
        event.stellar_cursor.ledger_sequence = 51_000_000 + i
        event.stellar_cursor.index_in_ledger = i % 50
    return event


def differences(sent, got):
    """What differs between an input and its output (empty when intact)."""
    out = []
    for field in ("id", "type", "content_type", "source_component_id"):
        if getattr(sent, field) != getattr(got, field):
            out.append(f"{field}: sent {getattr(sent, field)!r}, got {getattr(got, field)!r}")
    if sent.content_type in ("", "application/json"):
        try:
            if json.loads(sent.payload) != json.loads(got.payload):
                out.append(f"payload JSON differs: sent {sent.payload!r}, got {got.payload!r}")
        except ValueError as err:
            out.append(f"payload is not JSON any more ({err}): {got.payload!r}")
    elif sent.payload != got.payload:
        out.append(f"binary payload differs: sent {sent.payload.hex()}, got {got.payload.hex()}")
    if (sent.timestamp.seconds, sent.timestamp.nanos) != (got.timestamp.seconds, got.timestamp.nanos):
        out.append(f"timestamp: sent {sent.timestamp}, got {got.timestamp}")
    if sent.HasField("stellar_cursor") != got.HasField("stellar_cursor") or (
        sent.stellar_cursor != got.stellar_cursor
    ):
        out.append(f"stellar_cursor: sent {sent.stellar_cursor}, got {got.stellar_cursor}")
    for key, value in sent.metadata.items():
        if got.metadata.get(key) != value:
            out.append(f"metadata[{key!r}]: sent {value!r}, got {got.metadata.get(key)!r}")
    if "flowctl.error" in got.metadata:
        out.append(f"came back failed: {got.metadata['flowctl.error']}")
    return out


def check_process(channel, count):
    stub = processor_pb2_grpc.ProcessorServiceStub(channel)
    sent = [make_event(i) for i in range(count)]
    started = time.monotonic()
    got = list(stub.Process(iter(sent), timeout=120))
    seconds = time.monotonic() - started
    problems = []
    if len(got) != len(sent):
        problems.append(f"sent {len(sent)} events, got {len(got)} back")
    for i, (a, b) in enumerate(zip(sent, got)):
        for d in differences(a, b):
            problems.append(f"event {i} ({a.id}): {d}")
    print(f"python peer: {count} events through Process in {seconds:.2f} s", file=sys.stderr)
    return problems


def check_info(channel):
    info = processor_pb2_grpc.ProcessorServiceStub(channel).GetInfo(empty_pb2.Empty(), timeout=10)
    if info.type != common_pb2.COMPONENT_TYPE_PROCESSOR:
        return [f"GetInfo type is {info.type}, not COMPONENT_TYPE_PROCESSOR"]
    if not info.version:
        return ["GetInfo has no version"]
    return []


def check_health(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    problems = []
    for service in ("", SERVICE):
        status = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        if status != health_pb2.HealthCheckResponse.SERVING:
            name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
            problems.append(f"grpc.health.v1 says {name} for {service!r}")
    return problems


def check_reflection(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    names = []
    for response in stub.ServerReflectionInfo(iter([request]), timeout=10):
        names.extend(s.name for s in response.list_services_response.service)
    if SERVICE not in names:
        return [f"reflection lists {names}, not {SERVICE}"]
    # Resolve the service and its message types through reflection alone, as
    # grpcurl does (this needs the google/protobuf imports served too).
    pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    methods = {m.name: m for m in pool.FindServiceByName(SERVICE).methods}
    process = methods.get("Process")
    if process is None or not (process.client_streaming and process.server_streaming):
        return [f"reflection describes {SERVICE} without a bidirectional Process: {sorted(methods)}"]
    fields = [f.name for f in process.input_type.fields]
    if "stellar_cursor" not in fields or methods["GetInfo"].input_type.full_name != "google.protobuf.Empty":
        return [f"reflection describes Process/GetInfo types wrongly: {fields}"]
    return []


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", required=True, help="host:port of the ProcessorService")
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    with grpc.insecure_channel(args.addr) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        problems = check_health(channel) + check_reflection(channel) + check_info(channel)
        problems += check_process(channel, args.events)
    if problems:
        print(f"python peer: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems[:20]:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"python peer: all {args.events} events intact and in order; health SERVING; reflection OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
