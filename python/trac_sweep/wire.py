"""Frames of the trac-sweep protocol (docs/PROTOCOL.md, sections 1 and 2), on a DEALER socket.

A message is [tag, type, body, attachments...]: the tag (`TAG`), the type (`request` from a
client; `reply` or `error` back), a JSON object, then raw bytes. One request is in flight at a time:
the reply to it is the next message. A request that gets no answer in time closes the socket, so that
a late answer can never be taken for the answer to the next request.
"""

from __future__ import annotations

import json
import socket as _socket
import threading
import time
from typing import List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import zmq

from .config import CurveKeys
from .errors import Busy, NoAnswer, ProtocolViolation, VersionMismatch, error_from_reply

# The protocol version this client speaks (docs/PROTOCOL.md, section 2): frame 0 of every message.
PROTOCOL_VERSION = 3
TAG = f"trac-sweep/{PROTOCOL_VERSION}".encode("ascii")
# Clients accept messages up to 256 MiB; a larger one closes the connection (nothing is allocated).
MAX_MESSAGE_BYTES = 256 << 20


def busy_pause(answers: int) -> float:
    """Seconds to wait before asking again after `answers` earlier `busy` answers: 0.1 doubling to 2."""
    return min(0.1 * (1 << min(answers, 5)), 2.0)


class Connection:
    """One DEALER socket to the coordinator, used by one request at a time (thread-safe)."""

    def __init__(self, address: str, keys: Optional[CurveKeys], timeout: float) -> None:
        self.address = address
        self.keys = keys
        self.timeout = timeout
        self._context = zmq.Context()
        self._socket: Optional[zmq.Socket] = None
        self._lock = threading.Lock()
        self._probed = False

    def close(self) -> None:
        with self._lock:
            self._drop_socket()
            self._context.term()

    def _drop_socket(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def _open(self) -> zmq.Socket:
        if self._socket is None:
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
            if self.keys is not None:
                if not zmq.has("curve"):
                    sock.close(linger=0)
                    raise ProtocolViolation("this pyzmq's libzmq has no CURVE support")
                sock.setsockopt(zmq.CURVE_SERVERKEY, self.keys.server.encode())
                sock.setsockopt(zmq.CURVE_PUBLICKEY, self.keys.public.encode())
                sock.setsockopt(zmq.CURVE_SECRETKEY, self.keys.secret.encode())
            sock.connect(self.address)
            self._socket = sock
        return self._socket

    def _listening(self) -> Optional[str]:
        """For tcp:// addresses: None when something accepts a TCP connection there, else why not."""
        parts = urlsplit(self.address)
        if parts.scheme != "tcp" or parts.hostname is None or parts.port is None:
            return None
        try:
            with _socket.create_connection((parts.hostname, parts.port), timeout=min(self.timeout, 3.0)):
                return None
        except OSError as error:
            return error.strerror or str(error)

    def _no_answer(self, waited: Optional[float]) -> NoAnswer:
        why = self._listening()
        if why is not None:
            text = f"nothing answered at {self.address}: nothing listens there ({why}); is the coordinator running?"
        else:
            text = f"nothing answered at {self.address} within {waited:g} s"
            if self.keys is not None:
                text += (" (something listens there: with CURVE keys a refused handshake is silent; check that "
                         "this client's public key is in the coordinator's --authorized-keys directory and that "
                         "server_key is the coordinator's public key)")
            else:
                text += (" (something listens there but did not answer: a coordinator that uses CURVE keys "
                         "answers only clients with keys (client_keys and server_key), or the coordinator is busy)")
        return NoAnswer(text, self.address)

    def call(self, body: dict, attachments: Sequence[bytes] = (), timeout: Optional[float] = None) -> dict:
        """Sends one `request` and returns the `reply` body; raises the `error` as a CoordinatorError."""
        limit = self.timeout if timeout is None else timeout
        frames: List[bytes] = [TAG, b"request", json.dumps(body, separators=(",", ":")).encode("utf-8")]
        frames += [bytes(piece) for piece in attachments]
        with self._lock:
            if not self._probed:
                # Nothing listening is known at once: no need to wait out the timeout.
                why = self._listening()
                if why is not None:
                    raise NoAnswer(f"nothing answered at {self.address}: nothing listens there ({why}); "
                                   f"is the coordinator running?", self.address)
                self._probed = True
            sock = self._open()
            sock.send_multipart(frames, copy=False)
            deadline = time.monotonic() + limit
            busy_answers = 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                    self._drop_socket()
                    raise self._no_answer(limit)
                reply = sock.recv_multipart()
                kind, body_json = self._check(reply)
                if kind == "reply":
                    return body_json
                if kind == "error":
                    error = error_from_reply(body_json)
                    # Flow control (docs/PROTOCOL.md): nothing was done; the same request again, a little later.
                    pause = busy_pause(busy_answers)
                    if isinstance(error, Busy) and time.monotonic() + pause < deadline:
                        time.sleep(pause)
                        busy_answers += 1
                        sock.send_multipart(frames, copy=False)
                        continue
                    raise error
                # Not an answer to a request (a client gets none of these): ignore it and keep waiting.

    @staticmethod
    def _check(frames: List[bytes]) -> Tuple[str, dict]:
        if not frames:
            raise ProtocolViolation("the coordinator sent an empty message")
        tag = frames[0]
        if tag != TAG:
            if tag.startswith(b"trac-sweep/"):
                other = tag.decode("ascii", errors="replace")
                raise VersionMismatch(
                    "version_mismatch",
                    f"protocol version mismatch: the coordinator speaks {other}, this client speaks "
                    f"{TAG.decode()}")
            raise ProtocolViolation(f"the peer is not a trac-sweep coordinator (frame 0 is {tag[:40]!r})")
        if len(frames) < 3:
            raise ProtocolViolation(f"the coordinator sent {len(frames)} frames; a message has at least 3")
        kind = frames[1].decode("ascii", errors="replace")
        try:
            body = json.loads(frames[2].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ProtocolViolation(f"the coordinator's {kind} body is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise ProtocolViolation(f"the coordinator's {kind} body is not a JSON object")
        return kind, body
