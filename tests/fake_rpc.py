"""A local fake of the carpool proof register's API v3 (HTTP on loopback), for the tests.

It keeps what it received, answers like the register (201 created, 409 already there, 400
invalid, 422 terms violations: sent more than 24 h after the start, shorter than 2 km), and
can be told to be slow (the answer comes after the client gave up: the journey may or may not
have been recorded) or to refuse the next journey with a given answer."""
from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeRegister:
    def __init__(self, token: str = "rpc-test-token") -> None:
        self.token = token
        self.journeys: dict[str, dict] = {}
        self.labels: dict[str, list[str]] = {}
        self.posts: list[str] = []
        self.lookups: list[str] = []
        self.slow_posts = 0           # how many next POSTs answer late
        self.slow_seconds = 1.0
        self.slow_records = True      # does a late POST still record the journey?
        self.refuse_next: tuple[int, dict] | None = None
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeRegister:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _rules(self, payload: dict) -> list[str]:
        labels = []
        start = datetime.fromisoformat(payload["start"]["datetime"])
        if datetime.now(UTC) - start > timedelta(hours=24):
            labels.append("expired")
        if payload["distance"] < 2000:
            labels.append("distance_too_short")
        return labels

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._reply(401, {"error": {"code": 401, "message": "Unauthorized"}})
                    return False
                return True

            def do_POST(self) -> None:
                if self.path != "/v3/journeys":
                    return self._reply(404, {"error": {"message": "Not found"}})
                if not self._authorised():
                    return
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                jid = payload.get("operator_journey_id")
                with fake.lock:
                    fake.posts.append(jid)
                    slow = fake.slow_posts > 0
                    if slow:
                        fake.slow_posts -= 1
                    refuse, fake.refuse_next = fake.refuse_next, None
                    if refuse is not None:
                        return self._reply(*refuse)
                    if jid in fake.journeys:
                        return self._reply(409, {"error": {"code": 409, "message": "Conflict"}})
                    labels = fake._rules(payload)
                    if not slow or fake.slow_records:
                        fake.journeys[jid] = payload
                        fake.labels[jid] = labels
                if slow:
                    time.sleep(fake.slow_seconds)
                if labels:
                    return self._reply(422, {"error": {"code": -32422, "message": "Unprocessable Entity",
                                                       "data": {"terms_violation_labels": labels}}})
                self._reply(201, {"operator_journey_id": jid,
                                  "created_at": datetime.now(UTC).isoformat()})

            def do_GET(self) -> None:
                if not self.path.startswith("/v3/journeys/"):
                    return self._reply(404, {"error": {"message": "Not found"}})
                if not self._authorised():
                    return
                jid = self.path.rsplit("/", 1)[-1]
                with fake.lock:
                    fake.lookups.append(jid)
                    if jid not in fake.journeys:
                        return self._reply(404, {"error": {"code": 404, "message": "Not found"}})
                    labels = fake.labels.get(jid, [])
                self._reply(200, {"operator_journey_id": jid,
                                  "status": "terms_violation_error" if labels else "ok",
                                  "terms_violation_labels": labels})

        return Handler
