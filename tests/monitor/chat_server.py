"""An OpenAI-compatible chat server on 127.0.0.1 that serves a local checkpoint.

The monitor's null set needs "the same model through a different server": this one
answers ``/v1/chat/completions`` from its own :class:`LocalCheckpoint` (temperature,
seed, max_tokens, logprobs with top_logprobs, system messages). With ``batch > 1`` it
gathers concurrent requests with the same settings into one forward loop, seeded by
the first request's seed, as serving stacks do; with ``batch=1`` each request runs
alone under its own seed. Imported by path from the
tests and from ``bench/monitor.py``; ``python chat_server.py PORT FOLDER [BATCH]`` runs it
alone. ``POST /control/swap`` with ``{"folder": F}`` makes it serve another checkpoint
from then on: the provider swapping the model behind its endpoint.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many requests in flight: no connection resets at accept
    daemon_threads = True


class CheckpointChatServer:
    def __init__(self, folder: str, access: str = "logprobs", batch: int = 1, port: int = 0) -> None:
        import queue

        from modelcert.providers.checkpoint import LocalCheckpoint

        self.checkpoint = LocalCheckpoint(folder, access=access)  # own copy: not the provider's cache
        self.access = access
        self.requests = 0
        self.batch = batch
        self._queue: queue.Queue[tuple[list[dict[str, str]], tuple[Any, ...], int | None, Any]] = queue.Queue()
        threading.Thread(target=self._work, daemon=True).start()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/control/swap":
                    server.swap(body["folder"])
                    self._send({"serving": body["folder"]})
                    return
                self._send(server.answer(body))

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": "served", "object": "model"}]})

            def _send(self, obj: dict[str, Any]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = _Server(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def swap(self, folder: str) -> None:
        from modelcert.providers.checkpoint import LocalCheckpoint

        self.checkpoint = LocalCheckpoint(folder, access=self.access)

    def _work(self) -> None:
        import queue

        while True:
            first = self._queue.get()
            group, rest = [first], []
            while len(group) < self.batch:
                try:
                    item = self._queue.get(timeout=0.005)
                except queue.Empty:
                    break
                (group if item[1] == first[1] else rest).append(item)
            for item in rest:
                self._queue.put(item)
            max_new, temperature, want, top = first[1]
            try:
                gens = self.checkpoint.generate([g[0] for g in group], max_new_tokens=max_new, temperature=temperature,
                                                seed=first[2], logprobs=want, top_logprobs=top)
                for g, gen in zip(group, gens, strict=True):
                    g[3]["gen"] = gen
            except Exception as exc:  # delivered to every waiting request
                for g in group:
                    g[3]["error"] = exc
            for g in group:
                g[3]["event"].set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> CheckpointChatServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        chat = []
        for m in body["messages"]:
            content = m["content"]
            if isinstance(content, list):
                content = "".join(part.get("text", "") for part in content)
            chat.append({"role": m["role"] if m["role"] in ("system", "user", "assistant") else "user",
                         "content": content})
        want = bool(body.get("logprobs"))
        settings = (int(body.get("max_tokens") or body.get("max_completion_tokens") or 64),
                    float(body.get("temperature") or 0.0), want, int(body.get("top_logprobs") or 0) if want else 0)
        done: dict[str, Any] = {"event": threading.Event()}
        self._queue.put((chat, settings, body.get("seed"), done))
        done["event"].wait()
        if "error" in done:
            raise done["error"]
        gen = done["gen"]
        self.requests += 1
        logprobs = None
        if want:
            def entry(tok: str, lp: float) -> dict[str, Any]:
                return {"token": tok, "logprob": lp, "bytes": list(tok.encode())}

            logprobs = {"content": [{**entry(t.token, t.logprob), "top_logprobs": [entry(s, v) for s, v in t.top]}
                                    for t in gen.logprobs or []]}
        return {
            "id": f"c{self.requests}", "object": "chat.completion", "created": 0, "model": body.get("model", "served"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": gen.text}, "logprobs": logprobs,
                         "finish_reason": "stop" if gen.stop_reason == "stop" else "length"}],
            "usage": {"prompt_tokens": gen.input_tokens, "completion_tokens": gen.output_tokens,
                      "total_tokens": gen.input_tokens + gen.output_tokens},
        }


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)  # one thread: a contended CPU makes more threads much slower
    srv = CheckpointChatServer(sys.argv[2], batch=int(sys.argv[3]) if len(sys.argv) > 3 else 16,
                               port=int(sys.argv[1])).start()
    print(srv.base_url, flush=True)
    srv.thread.join()
