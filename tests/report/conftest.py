"""Fixtures for the report tests.

FakeOllama: a real HTTP server on 127.0.0.1 that speaks the parts of Ollama's API we use:
GET /api/tags, POST /api/chat and POST /api/generate (NDJSON streaming or one JSON object).

Modes: "ok"; "hang" (accepts the request, never answers until shut down); model names not
in ``pulled`` get Ollama's 404 ``{"error": "model ... not found"}``. ``requests`` records
every (path, body) for assertions.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

DEFAULT_TOKENS = ["The heart ", "is enlarged. ", "No pleural ", "effusion."]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeOllama:
    def __init__(self, pulled=("mistral:7b-instruct",), tokens=DEFAULT_TOKENS, mode="ok",
                 hang_paths=("/api/tags", "/api/chat", "/api/generate")):
        self.pulled = list(pulled)
        self.tokens = list(tokens)
        self.mode = mode
        self.hang_paths = set(hang_paths)
        self.requests: list[tuple[str, dict]] = []
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _body(self) -> dict:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def _send_json(self, status: int, obj: dict) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _maybe_hang(self) -> bool:
                if fake.mode == "hang" and self.path in fake.hang_paths:
                    fake.release.wait(30)
                    return True
                return False

            def do_GET(self):
                fake.requests.append((self.path, {}))
                if self._maybe_hang():
                    return
                if self.path != "/api/tags":
                    return self._send_json(404, {"error": "not found"})
                models = [{"name": m, "model": m, "modified_at": "2025-01-01T00:00:00Z",
                           "size": 4_109_865_159, "digest": "0" * 64,
                           "details": {"format": "gguf", "family": "llama", "parameter_size": "7B",
                                       "quantization_level": "Q4_0"}} for m in fake.pulled]
                self._send_json(200, {"models": models})

            def do_POST(self):
                body = self._body()
                fake.requests.append((self.path, body))
                if self._maybe_hang():
                    return
                if self.path not in ("/api/chat", "/api/generate"):
                    return self._send_json(404, {"error": "not found"})
                model = body.get("model", "")
                full = {m if ":" in m else m + ":latest" for m in fake.pulled}
                if (model if ":" in model else model + ":latest") not in full:
                    return self._send_json(404, {"error": f"model '{model}' not found, try pulling it first"})
                chat = self.path == "/api/chat"

                def part(text: str, done: bool) -> dict:
                    out = {"model": model, "created_at": "2025-01-01T00:00:00Z", "done": done}
                    if chat:
                        out["message"] = {"role": "assistant", "content": text}
                    else:
                        out["response"] = text
                    if done:
                        out.update(done_reason="stop", total_duration=1, eval_count=len(fake.tokens))
                    return out

                if body.get("stream", True) is False:
                    return self._send_json(200, part("".join(fake.tokens), True))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for obj in [part(t, False) for t in fake.tokens] + [part("", True)]:
                    line = (json.dumps(obj) + "\n").encode()
                    self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        return Handler


@pytest.fixture
def ollama_server():
    """Factory: ``with ollama_server(mode=...) as srv:`` gives a running fake on a free port."""
    return FakeOllama


@pytest.fixture
def absent_host() -> str:
    """A localhost URL where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def report_setup(tmp_path_factory):
    """(checkpoint dir, dataset dir with 24 distinct reports, index cache dir)."""
    import torch

    from eclip.config import Config, to_dict
    from eclip.data.manifest import read_manifest, write_manifest
    from eclip.model import build_model, save_model
    from tiny_data import make_tiny_dataset

    torch.manual_seed(0)
    ckpt = tmp_path_factory.mktemp("ckpt")
    cfg = to_dict(Config())
    cfg["model"]["arch"] = "eclip-vit-micro"
    save_model(ckpt, build_model({"arch": "eclip-vit-micro"}), cfg, dtype="float32")
    data = make_tiny_dataset(tmp_path_factory.mktemp("ds"))
    df = read_manifest(data)
    df["findings"] = [f"{f} Finding number {i}." for i, f in enumerate(df["findings"])]
    write_manifest(df, data)
    return ckpt, data, tmp_path_factory.mktemp("index")
