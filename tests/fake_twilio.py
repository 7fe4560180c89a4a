"""A fake Twilio REST API on loopback, for the real Twilio SDK (through TWILIO_API_BASE_URL).

It implements what the outbox uses: POST and GET /2010-04-01/Accounts/<sid>/Messages.json,
with HTTP Basic auth. What a send does is scripted per destination number:

    server.script("+33611111111", "429", "ok")    # first send refused (429), second accepted

Behaviours: "ok"; "429"; "500" (not created); "500_created" (created, then 500);
"timeout" (nothing created, answers too late); "timeout_created" (created, then too late);
"21211", "21610", "21614", "30005", "30006" (400 with that error code).
`delay` slows every POST before anything is created; `delay_after` pauses between creating
the message and answering — where a SIGKILL leaves the outcome unknown.
"""
from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from email.utils import format_datetime
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-auth-token-1234"
API_KEY, API_SECRET = "SK" + "0" * 31 + "2", "fake-api-secret"
_ERRORS = {
    "21211": "The 'To' number is not a valid phone number.",
    "21610": "Attempt to send to unsubscribed recipient",
    "21614": "'To' number is not a valid mobile number",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
}


class FakeTwilio:
    def __init__(self, delay: float = 0.0, hang_s: float = 1.5, delay_after: float = 0.0) -> None:
        self.delay = delay
        self.delay_after = delay_after  # created, then a pause before answering (crash window)
        self.hang_s = hang_s
        self.messages: list[dict] = []  # every message created, in order
        self.posts = 0
        self.forms: list[dict[str, str]] = []  # every POST's form, in order
        self.lists = 0
        self.auth_failures = 0
        self.list_fails = False  # GET answers 503 (the look-up after an unknown outcome fails)
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # --- control -------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeTwilio":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, to: str, *behaviours: str) -> None:
        with self._lock:
            self._scripts[to].extend(behaviours)

    def bodies_to(self, to: str) -> list[str]:
        with self._lock:
            return [m["body"] for m in self.messages if m["to"] == to]

    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    # --- behaviour -----------------------------------------------------------------
    def _next(self, to: str) -> str:
        with self._lock:
            queue = self._scripts.get(to)
            return queue.popleft() if queue else "ok"

    def _create(self, form: dict[str, str]) -> dict:
        now = datetime.now(timezone.utc)
        with self._lock:
            sid = f"SM{next(self._ids):032x}"
            msg = {
                "sid": sid, "account_sid": ACCOUNT_SID, "to": form.get("To"),
                "from": form.get("From") or None, "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": form.get("Body", ""), "status": "queued", "direction": "outbound-api",
                "date_created": format_datetime(now), "date_updated": format_datetime(now),
                "date_sent": None, "num_segments": "1", "error_code": None, "error_message": None,
                "status_callback": form.get("StatusCallback"), "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            }
            self.messages.append(msg)
            return msg

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _authorised(self) -> bool:
                allowed = {"Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
                           for user, secret in ((ACCOUNT_SID, AUTH_TOKEN), (API_KEY, API_SECRET))}
                if self.headers.get("Authorization") not in allowed or ACCOUNT_SID not in self.path:
                    fake.auth_failures += 1
                    self._send(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return False
                return True

            def do_GET(self):
                if not self._authorised():
                    return
                url = urlparse(self.path)
                if not url.path.endswith("/Messages.json"):
                    self._send(404, {"code": 20404, "message": "Not found", "status": 404})
                    return
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with fake._lock:
                    fake.lists += 1
                    found = [m for m in reversed(fake.messages)
                             if not query.get("To") or m["to"] == query["To"]]
                if fake.list_fails:
                    self._send(503, {"code": 20503, "message": "Service Unavailable", "status": 503})
                    return
                size = int(query.get("PageSize", 50))
                self._send(200, {
                    "messages": found[:size], "page": 0, "page_size": size, "start": 0,
                    "end": max(0, min(size, len(found)) - 1), "uri": url.path, "first_page_uri": url.path,
                    "next_page_uri": None, "previous_page_uri": None,
                })

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if not self._authorised():
                    return
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                with fake._lock:
                    fake.posts += 1
                    fake.forms.append(form)
                if fake.delay:
                    time.sleep(fake.delay)
                behaviour = fake._next(form.get("To", ""))
                if behaviour == "ok":
                    msg = fake._create(form)
                    if fake.delay_after:
                        time.sleep(fake.delay_after)
                    self._send(201, msg)
                elif behaviour == "429":
                    self._send(429, {"code": 20429, "message": "Too Many Requests", "status": 429})
                elif behaviour == "500":
                    self._send(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
                elif behaviour == "500_created":
                    fake._create(form)
                    self._send(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
                elif behaviour in ("timeout", "timeout_created"):
                    msg = fake._create(form) if behaviour == "timeout_created" else None
                    time.sleep(fake.hang_s)
                    self._send(201, msg or {"code": 0})
                elif behaviour in _ERRORS:
                    self._send(400, {"code": int(behaviour), "message": _ERRORS[behaviour], "status": 400,
                                     "more_info": f"https://www.twilio.com/docs/errors/{behaviour}"})
                else:  # pragma: no cover
                    self._send(500, {"code": 1, "message": f"bad script {behaviour}", "status": 500})

        return Handler
