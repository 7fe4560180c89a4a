"""A fake Twilio REST API on loopback, for the real Twilio SDK (through TWILIO_API_BASE_URL).

It implements what the outbox uses: POST and GET /2010-04-01/Accounts/<sid>/Messages.json,
with HTTP Basic auth. What a send does is scripted per destination number:

    server.script("+33611111111", "429", "ok")    # first send refused (429), second accepted

Behaviours: "ok"; "429"; "500" (not created); "500_created" (created, then 500);
"timeout" (nothing created, answers too late); "timeout_created" (created, then too late);
"21211", "21610", "21614", "30005", "30006" (400 with that error code).
`delay` slows every POST before anything is created; `delay_after` pauses between creating
the message and answering — where a SIGKILL leaves the outcome unknown.

Voice (issue #17): POST /Calls.json creates a call (same HTTP behaviours as above, scripted
per destination number), GET /Calls.json lists them and GET /Calls/<sid>.json fetches one.
When `callback_target` is set (the app served on loopback), each created call then plays
like Twilio, in its own thread: it fetches the call's TwiML URL, presses keys on its
<Gather>, and posts the status callbacks — every request signed with X-Twilio-Signature
computed on the public URL the app gave (as Twilio does behind a reverse proxy). Scenarios:

    server.script("+33565000001", "answer:1")    # answered by a person, presses 1
    "answer:3,2" (3 = hear it again, then 2), "answer" (listens, presses nothing),
    "no-answer", "busy", "machine" (answering machine: AnsweredBy=machine_end_beep), "failed"

`wait_calls()` waits until every call has finished playing.
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
from urllib.parse import parse_qs, urlencode, urlparse
from urllib.request import Request, urlopen
from xml.etree import ElementTree

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
    def __init__(self, delay: float = 0.0, hang_s: float = 1.5, delay_after: float = 0.0,
                 callback_target: str | None = None) -> None:
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
        # voice
        self.calls: list[dict] = []          # every call created, in order
        self.call_posts = 0
        self.call_forms: list[dict[str, str]] = []
        self.call_lists = 0
        self.callback_target = callback_target.rstrip("/") if callback_target else None
        self.callback_log: list[tuple[str, str, int]] = []  # (kind, public url, HTTP status)
        self._call_scenario: dict[str, str] = {}
        self._call_threads: list[threading.Thread] = []
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

    def calls_to(self, to: str) -> list[dict]:
        with self._lock:
            return [c for c in self.calls if c["to"] == to]

    def wait_calls(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._call_threads)
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            with self._lock:
                if all(not t.is_alive() for t in self._call_threads) and len(self._call_threads) == len(threads):
                    return
            if time.monotonic() >= deadline:
                raise TimeoutError("fake Twilio calls still playing")

    # --- voice: a call plays like Twilio -------------------------------------------
    def _create_call(self, form: dict[str, str], scenario: str) -> dict:
        now = datetime.now(timezone.utc)
        with self._lock:
            sid = f"CA{next(self._ids):032x}"
            call = {
                "sid": sid, "account_sid": ACCOUNT_SID, "to": form.get("To"), "from": form.get("From"),
                "status": "queued", "direction": "outbound-api", "answered_by": None, "duration": None,
                "date_created": format_datetime(now), "date_updated": format_datetime(now),
                "start_time": None, "end_time": None, "api_version": "2010-04-01", "price": None,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
                # kept for the tests (not part of Twilio's answer)
                "_url": form.get("Url"), "_status_callback": form.get("StatusCallback"),
                "_scenario": scenario, "_twiml": [], "_digits": [],
            }
            self.calls.append(call)
        if self.callback_target:
            thread = threading.Thread(target=self._play, args=(call,), daemon=True)
            with self._lock:
                self._call_threads.append(thread)
            thread.start()
        return call

    @staticmethod
    def public_call(call: dict) -> dict:
        return {k: v for k, v in call.items() if not k.startswith("_")}

    def _post(self, kind: str, public_url: str, params: dict[str, str]) -> str:
        from twilio.request_validator import RequestValidator

        signature = RequestValidator(AUTH_TOKEN).compute_signature(public_url, params)
        url = urlparse(public_url)
        target = self.callback_target + url.path + (f"?{url.query}" if url.query else "")
        req = Request(target, data=urlencode(params).encode(), method="POST",
                      headers={"X-Twilio-Signature": signature,
                               "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urlopen(req, timeout=10) as answer:
                body, status = answer.read().decode(), answer.status
        except Exception as exc:  # an HTTP error status: recorded, the call goes on
            body, status = "", getattr(exc, "code", 0)
        with self._lock:
            self.callback_log.append((kind, public_url, status))
        return body

    def _status(self, call: dict, status: str, **extra: str) -> None:
        with self._lock:
            call["status"] = status
            call.update({k: v for k, v in extra.items() if k in ("answered_by", "duration")})
        if call["_status_callback"]:
            params = {"CallSid": call["sid"], "AccountSid": ACCOUNT_SID, "From": call["from"] or "",
                      "To": call["to"], "CallStatus": status, "Direction": "outbound-api",
                      "ApiVersion": "2010-04-01"}
            if extra.get("answered_by"):
                params["AnsweredBy"] = extra["answered_by"]
            if extra.get("duration"):
                params["CallDuration"] = extra["duration"]
            self._post("status", call["_status_callback"], params)

    def _play(self, call: dict) -> None:
        scenario = call["_scenario"]
        if scenario == "busy":
            self._status(call, "busy")
            return
        if scenario == "failed":
            self._status(call, "failed")
            return
        self._status(call, "ringing")
        if scenario == "no-answer":
            self._status(call, "no-answer")
            return
        answered_by = "machine_end_beep" if scenario == "machine" else "human"
        keys = scenario.split(":", 1)[1].split(",") if ":" in scenario else []
        params = {"CallSid": call["sid"], "AccountSid": ACCOUNT_SID, "From": call["from"] or "",
                  "To": call["to"], "CallStatus": "in-progress", "Direction": "outbound-api",
                  "ApiVersion": "2010-04-01", "AnsweredBy": answered_by}
        self._status(call, "in-progress", answered_by=answered_by)
        twiml = self._post("twiml", call["_url"], params)
        call["_twiml"].append(twiml)
        while keys:
            gather = _gather_action(twiml)
            if gather is None:
                break
            key = keys.pop(0)
            call["_digits"].append(key)
            twiml = self._post("gather", gather, {**params, "Digits": key, "FinishedOnKey": ""})
            call["_twiml"].append(twiml)
        self._status(call, "completed", answered_by=answered_by, duration="42")

    # --- behaviour -----------------------------------------------------------------
    def script_calls(self, to: str, *scenarios: str) -> None:
        self.script(to, *scenarios)

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

            def _calls_get(self, url) -> None:
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path.endswith("/Calls.json"):
                    with fake._lock:
                        fake.call_lists += 1
                        found = [fake.public_call(c) for c in reversed(fake.calls)
                                 if not query.get("To") or c["to"] == query["To"]]
                    if fake.list_fails:
                        self._send(503, {"code": 20503, "message": "Service Unavailable", "status": 503})
                        return
                    size = int(query.get("PageSize", 50))
                    self._send(200, {"calls": found[:size], "page": 0, "page_size": size, "start": 0,
                                     "end": max(0, min(size, len(found)) - 1), "uri": url.path,
                                     "first_page_uri": url.path, "next_page_uri": None,
                                     "previous_page_uri": None})
                    return
                sid = url.path.rsplit("/", 1)[-1].removesuffix(".json")
                with fake._lock:
                    found = [fake.public_call(c) for c in fake.calls if c["sid"] == sid]
                if found:
                    self._send(200, found[0])
                else:
                    self._send(404, {"code": 20404, "message": "Not found", "status": 404})

            def do_GET(self):
                if not self._authorised():
                    return
                url = urlparse(self.path)
                if "/Calls" in url.path:
                    self._calls_get(url)
                    return
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
                multi = parse_qs(raw, keep_blank_values=True)
                if self.path.split("?")[0].endswith("/Calls.json"):
                    self._call_post(form, multi)
                    return
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

            def _call_post(self, form: dict[str, str], multi: dict[str, list[str]]) -> None:
                form = {**form, "StatusCallbackEvent": " ".join(multi.get("StatusCallbackEvent", []))}
                with fake._lock:
                    fake.call_posts += 1
                    fake.call_forms.append(form)
                if not form.get("To") or not form.get("From") or not (form.get("Url") or form.get("Twiml")):
                    self._send(400, {"code": 21205, "message": "Url or Twiml, To and From are required",
                                     "status": 400})
                    return
                if fake.delay:
                    time.sleep(fake.delay)
                behaviour = fake._next(form["To"])
                scenario = behaviour if behaviour.split(":")[0] in CALL_SCENARIOS else "answer"
                if behaviour == "ok" or scenario == behaviour:
                    call = fake._create_call(form, scenario)
                    if fake.delay_after:
                        time.sleep(fake.delay_after)
                    self._send(201, fake.public_call(call))
                elif behaviour == "500":
                    self._send(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
                elif behaviour == "500_created":
                    fake._create_call(form, "answer")
                    self._send(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
                elif behaviour in ("timeout", "timeout_created"):
                    call = fake._create_call(form, "answer") if behaviour == "timeout_created" else None
                    time.sleep(fake.hang_s)
                    self._send(201, fake.public_call(call) if call else {"code": 0})
                elif behaviour == "429":
                    self._send(429, {"code": 20429, "message": "Too Many Requests", "status": 429})
                elif behaviour in _ERRORS:
                    self._send(400, {"code": int(behaviour), "message": _ERRORS[behaviour], "status": 400})
                else:  # pragma: no cover
                    self._send(500, {"code": 1, "message": f"bad script {behaviour}", "status": 500})

        return Handler


CALL_SCENARIOS = {"answer", "no-answer", "busy", "machine", "failed"}


def _gather_action(twiml: str) -> str | None:
    """The action URL of the TwiML's <Gather>, if it has one (where Twilio posts the keys)."""
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError:
        return None
    gather = root.find("Gather")
    return gather.get("action") if gather is not None else None
