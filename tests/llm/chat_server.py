"""A scripted OpenAI chat-completions server for tests (stdlib only; run as a process).

``python tests/llm/chat_server.py`` listens on an ephemeral loopback port and prints
``PORT <n>``. The requested ``model`` chooses the behaviour (``<behaviour>`` or
``<behaviour>:<tag>``; counters are per full model name, so tests pick unique tags):

ok, fenced, malformed, malformed-once, nousage, slow, 429-once, 429-long, 500-once,
500-always, 401, and ``lab`` / ``lab-mixed``: answers for the LLM coordination methods' prompt
(labtrust_gym.llm.lab_prompt) — every agent under ``[decide]`` takes its first allowed action
that is not NOOP/TICK, moves and doors last (else NOOP), a hub deals every work key to
region 0; ``lab-mixed`` makes every third answer malformed JSON. ``GET /log`` returns every
request received (body and Authorization header).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = {"action": "TICK", "reason": "scripted"}
_LOCK = threading.Lock()
_COUNTS: dict[str, int] = {}
_LOG: list[dict[str, Any]] = []


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]") and " " not in line:
            current = line[1:-1]
            out[current] = []
        elif line and current:
            out[current].append(line)
    return out


def lab_answer(body: dict[str, Any]) -> str:
    """A deterministic answer to a coordination prompt (see the module docstring)."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    sec = _sections(str(users[-1]["content"]) if users else "")
    if "regions" in sec:
        keys = [w.split("|")[0].strip() for w in sec.get("work", [])]
        return json.dumps({"assignments": [{"work": k, "region": 0} for k in keys]})
    allowed: dict[str, list[str]] = {}
    for line in sec.get("agents", []):
        parts = [p.strip() for p in line.split("|")]
        names = [p[len("allowed ") :] for p in parts if p.startswith("allowed ")]
        allowed[parts[0]] = [a.strip() for a in (names[0] if names else "").split(",")]
    decide = [a.strip() for a in " ".join(sec.get("decide", [])).split(",") if a.strip()]
    actions = []
    for agent in decide:
        work = [a for a in allowed.get(agent, []) if a and a not in ("NOOP", "TICK")]
        work.sort(key=lambda a: a.startswith(("MOVE", "OPEN_DOOR", "CLOSE_DOOR")))  # work first
        actions.append({"agent": agent, "action": work[0] if work else "NOOP"})
    return json.dumps({"actions": actions})


def _completion(model: str, content: str, body: dict[str, Any], usage: bool) -> dict[str, Any]:
    prompt_words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    reply: dict[str, Any] = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    if usage:
        completion_words = len(content.split())
        reply["usage"] = {
            "prompt_tokens": prompt_words,
            "completion_tokens": completion_words,
            "total_tokens": prompt_words + completion_words,
        }
    return reply


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client gave up
            self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": "scripted"}}, headers)

    def do_GET(self) -> None:
        if self.path == "/log":
            with _LOCK:
                self._send(200, list(_LOG))
        else:
            self._error(404, "not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.endswith("/chat/completions"):
            self._error(404, f"no route {self.path}")
            return
        model = str(body.get("model", ""))
        behaviour = model.split(":", 1)[0]
        with _LOCK:
            _COUNTS[model] = count = _COUNTS.get(model, 0) + 1
            _LOG.append({"body": body, "authorization": self.headers.get("Authorization")})
        good = json.dumps(ANSWER)
        if behaviour == "ok":
            self._send(200, _completion(model, good, body, True))
        elif behaviour == "fenced":
            self._send(200, _completion(model, f"```json\n{good}\n```", body, True))
        elif behaviour == "nousage":
            self._send(200, _completion(model, good, body, False))
        elif behaviour == "malformed" or (behaviour == "malformed-once" and count == 1):
            self._send(200, _completion(model, '{"action": "TICK", ', body, True))
        elif behaviour == "malformed-once":
            self._send(200, _completion(model, good, body, True))
        elif behaviour == "slow":
            time.sleep(2.0)
            self._send(200, _completion(model, good, body, True))
        elif behaviour == "429-once" and count == 1:
            self._error(429, "slow down", {"Retry-After": "1"})
        elif behaviour == "429-long":
            self._error(429, "come back tomorrow", {"Retry-After": "3600"})
        elif (behaviour == "500-once" and count == 1) or behaviour == "500-always":
            self._error(500, "internal error")
        elif behaviour in ("429-once", "500-once"):
            self._send(200, _completion(model, good, body, True))
        elif behaviour == "lab" or (behaviour == "lab-mixed" and count % 3):
            self._send(200, _completion(model, lab_answer(body), body, True))
        elif behaviour == "lab-mixed":
            self._send(200, _completion(model, '{"actions": [', body, True))
        elif behaviour == "401":
            self._error(401, "invalid api key")
        else:
            self._error(404, f"unknown scripted model {model!r}")


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sys.stdout.write(f"PORT {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
