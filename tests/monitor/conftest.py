"""A real OpenAI-compatible server on 127.0.0.1 whose answer depends on the model name asked for."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        model = body.get("model", "")
        # "flip" answers differently on one prompt only: a small behaviour change
        text = f"{model.replace('flip', 'base') if 'Dutch' not in prompt else model}: {len(str(prompt))}"
        data = json.dumps({
            "id": "c", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def answer_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("FP_API_KEY", "k")
    monkeypatch.setenv("FP_BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    try:
        yield "openai-api/fp"
    finally:
        httpd.shutdown()
        httpd.server_close()
