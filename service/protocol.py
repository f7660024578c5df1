"""uvicorn's HTTP/1.1 protocol, answering the requests it cannot parse in the API's JSON error shape.

uvicorn answers a request line or headers it cannot parse itself, before the app sees
anything, with a plain-text 400; clients of this API read `{"error", "detail", "request_id"}` bodies.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class JsonErrorsH11Protocol(H11Protocol):
    """H11Protocol whose own 400 answers are JSON."""

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": "bad_request", "detail": msg, "request_id": None}).encode()  # before any request
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body)):
            self.transport.write(self.conn.send(event))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()
