"""A minimal, fast MongoDB wire-protocol server for the end-to-end benchmark.

It answers the handshake (``OP_QUERY`` and ``OP_MSG`` ``hello``/``isMaster``),
``insert`` (``n: 1``), ``find`` (a first batch of three documents, cursor id 0) and
anything else with ``{ok: 1}``. Replies are encoded once at start-up, so the server
spends as little CPU as possible per command: the client's cost, listeners included,
dominates what the benchmark measures (a worst case for the listener overhead; a real
server adds network and execution time that makes every listener a smaller share).

Run: ``python benchmarks/wire_server.py [--delay-us N]``; prints ``PORT <n>`` on stdout
and serves until killed.
"""

from __future__ import annotations

import argparse
import datetime
import socket
import socketserver
import struct
import sys
import time

import bson
from bson import Decimal128, Int64, ObjectId

_HEADER = struct.Struct("<iiii")
_OP_REPLY, _OP_QUERY, _OP_MSG = 1, 2004, 2013

_HELLO = {
    "helloOk": True,
    "isWritablePrimary": True,
    "ismaster": True,
    "maxBsonObjectSize": 16_777_216,
    "maxMessageSizeBytes": 48_000_000,
    "maxWriteBatchSize": 100_000,
    "localTime": datetime.datetime(2026, 11, 25, tzinfo=datetime.timezone.utc),
    "logicalSessionTimeoutMinutes": 30,
    "connectionId": 1,
    "minWireVersion": 0,
    "maxWireVersion": 21,
    "readOnly": False,
    "ok": 1.0,
}


def _doc(i: int) -> dict[str, object]:
    return {
        "_id": ObjectId(),
        "customer_id": 10_000 + i,
        "status": "paid",
        "total": Decimal128("129.90"),
        "created_at": datetime.datetime(2026, 11, 24, 17, 3, i),
        "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
    }


_REPLIES = {
    b"insert": bson.encode({"n": 1, "ok": 1.0}),
    b"find": bson.encode(
        {
            "cursor": {
                "firstBatch": [_doc(1), _doc(2), _doc(3)],
                "id": Int64(0),
                "ns": "bench.orders",
            },
            "ok": 1.0,
        }
    ),
    b"hello": bson.encode(_HELLO),
    b"isMaster": bson.encode(_HELLO),
    b"ismaster": bson.encode(_HELLO),
}
_OK = bson.encode({"ok": 1.0})


def _command_name(body: bytes, start: int) -> bytes:
    """The first key of the BSON document at ``start`` (no full decode needed)."""
    end = body.index(b"\x00", start + 5)
    return body[start + 5 : end]


class _Handler(socketserver.BaseRequestHandler):
    delay = 0.0

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stream = sock.makefile("rb")
        reply_id = 0
        while True:
            header = stream.read(16)
            if len(header) < 16:
                return
            length, request_id, _, opcode = _HEADER.unpack(header)
            body = stream.read(length - 16)
            reply_id += 1
            if opcode == _OP_MSG:
                # flagBits (4 bytes), then section kind 0 (1 byte) holding the command.
                payload = _REPLIES.get(_command_name(body, 5), _OK)
                if body[0] & 2:  # moreToCome: the client expects no reply
                    continue
                message = b"\x00\x00\x00\x00\x00" + payload
                out_opcode = _OP_MSG
            elif opcode == _OP_QUERY:
                # Only the handshake arrives this way: answer it whatever it asks.
                message = struct.pack("<iqii", 0, 0, 0, 1) + _REPLIES[b"hello"]
                out_opcode = _OP_REPLY
            else:
                return
            if self.delay:
                time.sleep(self.delay)
            sock.sendall(
                _HEADER.pack(16 + len(message), reply_id, request_id, out_opcode) + message
            )


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    """Serve on a free loopback port until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-us", type=int, default=0, help="sleep before each reply")
    args = parser.parse_args()
    _Handler.delay = args.delay_us / 1_000_000
    with _Server(("127.0.0.1", 0), _Handler) as server:
        print(f"PORT {server.server_address[1]}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
