"""A real OpenAI-compatible chat server on 127.0.0.1 that counts every request.

It answers ``reply(<last user message>)`` (by default ``echo: <message>``). Markers in
the prompt change its behaviour: ``[429]`` answers HTTP 429 to the first request for
that prompt, ``[400]`` always answers HTTP 400, ``[500]`` always answers HTTP 500, and
``[hang]`` waits 30 s. Shared by the runner and policy tests (imported by path, as
``fakeserver``, because several conftest modules share that module name).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def echo(prompt: str) -> str:
    return f"echo: {prompt}"


class FakeChatServer:
    def __init__(self, delay: float = 0.0, reply: Callable[[str], str] = echo) -> None:
        self.delay = delay
        self.reply = reply
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = next(
                    (m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), ""
                )
                if isinstance(prompt, list):
                    prompt = "".join(p.get("text", "") for p in prompt)
                with server._lock:
                    server.calls[prompt] += 1
                    n = server.calls[prompt]
                if "[hang]" in prompt:
                    time.sleep(30)
                if "[400]" in prompt:
                    return self._send(400, {"error": {"message": "bad request", "type": "invalid_request_error"}})
                if "[500]" in prompt:
                    return self._send(500, {"error": {"message": "server error", "type": "server_error"}})
                if "[429]" in prompt and n == 1:
                    return self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}})
                time.sleep(server.delay)
                text = server.reply(prompt)
                self._send(
                    200,
                    {
                        "id": f"c{n}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", "echo"),
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
                    },
                )

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
