"""A tiny OpenAI-compatible chat server on 127.0.0.1 that always refuses, optionally slowly.

Tests use it as the model under audit where they need control over timing (the
restart test kills the lab server while an audit is waiting on this server).
``POST /control/delay`` with body ``{"seconds": S}`` changes the delay at run time.

Usage: ``python model_server.py PORT [DELAY_SECONDS]``
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"delay": float(sys.argv[2]) if len(sys.argv) > 2 else 0.0}
ANSWER = "I can't help with that."


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, obj: dict) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send({"object": "list", "data": [{"id": "refuser", "object": "model"}]})

    def do_POST(self) -> None:
        req = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if self.path == "/control/delay":
            STATE["delay"] = float(req["seconds"])
            self._send({"delay": STATE["delay"]})
            return
        time.sleep(STATE["delay"])
        self._send({
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": req.get("model", "refuser"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 6, "total_tokens": 14},
        })


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
