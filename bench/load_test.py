"""Load test: gunicorn with several workers on PostGIS, 10,000 trips and 1,000 open requests.

Run from the repository root (PostgreSQL with PostGIS on 127.0.0.1:5432):

    .venv/bin/python -m bench.load_test                       # defaults below, ~2 minutes
    .venv/bin/python -m bench.load_test --restart-db          # + restart PostgreSQL mid-run
    .venv/bin/python -m bench.load_test --write-rate 1 --past-bookings 100000   # issue 13 targets

It builds a fresh database `lotocar_load` (migrations, communes, synthetic drivers, trips,
passengers and requests weighted by population), starts `gunicorn -w N app:app` on
loopback, warms every worker's matching index, then drives two kinds of requests for a
fixed time from a pool of client threads (closed loop, keep-alive connections):
the operator's candidates endpoint (`GET /requests/<id>/candidates`) and drivers'
"Mes trajets" pages. `--write-rate R` adds a writer posting R regular trips per second
through the JSON API (bearer token) while the readers run; `--past-bookings N` fills the
history with N done bookings on past runs (and their `offer_days`). It prints throughput
and p50/p95/p99 per kind, the full matching-index rebuilds the workers logged during the
measured run (0 expected: writes are applied from the change log), the workers' resident
memory, and a last machine-readable `RESULT` line. Everything stays on 127.0.0.1 and stops by itself.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, time as dtime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = os.environ.get("TEST_PG_SERVER", "postgresql+psycopg2://postgres@127.0.0.1:5432")
HUBS = [("46042", 0.45), ("46102", 0.2), ("46127", 0.1), ("46309", 0.08), ("46251", 0.07)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_database(name: str, offers: int, requests: int, seed: int, past_bookings: int = 0) -> tuple[str, dict]:
    import sqlalchemy as sa
    from flask_migrate import upgrade

    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = f"{PG_SERVER}/{name}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION postgis"))
    engine.dispose()

    from lotocar import create_app
    from lotocar.auth.models import Role, User
    from lotocar.api.operations import issue_token
    from lotocar.auth.operations import create_staff
    from lotocar.bookings.models import Booking, BookingStatus, OfferDay
    from lotocar.communes import operations as communes
    from lotocar.communes.models import Commune
    from lotocar.core.timeutil import local_to_utc, today_local, utcnow
    from lotocar.drivers.models import Driver
    from lotocar.extensions import db
    from lotocar.offers.models import Offer, OfferKind, OfferStatus
    from lotocar.passengers.models import Passenger
    from lotocar.requests.models import RequestMode, RequestReason, RequestStatus, TripRequest

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "load-test"})
    rng = random.Random(seed)
    info: dict = {}
    with app.app_context():
        upgrade()
        for _ in communes.upsert_communes(communes.read_csv(app.config["COMMUNES_CSV"])):
            pass
        all_communes = list(db.session.scalars(sa.select(Commune)))
        weights = [c.population for c in all_communes]
        by_code = {c.insee: c for c in all_communes}
        hubs = [by_code[code] for code, _ in HUBS]
        hub_weights = [w for _, w in HUBS]

        def pick_pair():
            origin = rng.choices(all_communes, weights)[0]
            dest = rng.choices(hubs, hub_weights)[0] if rng.random() < 0.8 else rng.choices(all_communes, weights)[0]
            while dest.insee == origin.insee:
                dest = rng.choices(all_communes, weights)[0]
            return origin, dest

        today = today_local()
        n_drivers = max(1, offers // 3)
        drivers = []
        for i in range(n_drivers):
            home = rng.choices(all_communes, weights)[0]
            user = User(role=Role.DRIVER, first_name=f"Conducteur{i}", last_name="Test",
                        phone=f"+336{i:08d}", phone_verified_at=utcnow())
            user.driver = Driver(home_insee=home.insee, consent_contact=True, consent_at=utcnow())
            drivers.append(user)
        db.session.add_all(drivers)
        db.session.flush()
        rows = []
        for i in range(offers):
            user = drivers[i % n_drivers]
            origin, dest = pick_pair()
            hour = rng.choice([6, 7, 7, 8, 8, 9, 12, 13, 16, 17, 17, 18])
            at = dtime(hour, rng.choice([0, 15, 30, 45]))
            offer = Offer(driver_id=user.driver.id, status=OfferStatus.ACTIVE, seats=rng.randint(1, 4),
                          max_detour_min=rng.choice([5, 10, 10, 15, 20]), local_time=at)
            if rng.random() < 0.7:
                offer.kind = OfferKind.REGULAR
                offer.weekdays = "1,2,3,4,5"
                offer.first_date = today
                offer.last_date = today + timedelta(days=rng.randint(20, 120))
            else:
                offer.kind = OfferKind.ONE_OFF
                day = today + timedelta(days=rng.randint(1, 30))
                offer.departure_at = local_to_utc(day, at)
                offer.first_date = offer.last_date = day
            offer.set_place("origin", origin)
            offer.set_place("destination", dest)
            rows.append(offer)
        db.session.add_all(rows)
        passengers = []
        for i in range(max(1, requests // 2)):
            home = rng.choices(all_communes, weights)[0]
            passengers.append(Passenger(first_name=f"Passager{i}", last_name="Test",
                                        phone=f"+337{i:08d}", home_insee=home.insee))
        db.session.add_all(passengers)
        db.session.flush()
        reqs = []
        for i in range(requests):
            origin, dest = pick_pair()
            day = today + timedelta(days=rng.randint(1, 28))
            req = TripRequest(passenger_id=passengers[i % len(passengers)].id,
                              mode=RequestMode.ARRIVE_BY if rng.random() < 0.7 else RequestMode.LEAVE_AFTER,
                              target_at=local_to_utc(day, dtime(rng.randint(7, 17), rng.choice([0, 30]))),
                              flexibility_min=rng.choice([15, 30, 60]), reason=RequestReason.MEDICAL,
                              status=RequestStatus.OPEN)
            req.set_place("origin", origin)
            req.set_place("destination", dest)
            reqs.append(req)
        db.session.add_all(reqs)
        db.session.flush()
        if past_bookings:
            # done rides on past runs: a booking history that seat counts must not read
            history_reqs = []
            for i in range(past_bookings):
                day = today - timedelta(days=1 + i % 365)
                origin, dest = pick_pair()
                r = TripRequest(passenger_id=passengers[i % len(passengers)].id, mode=RequestMode.ARRIVE_BY,
                                target_at=local_to_utc(day, dtime(9, 0)), flexibility_min=30,
                                reason=RequestReason.MEDICAL, status=RequestStatus.DONE)
                r.set_place("origin", origin)
                r.set_place("destination", dest)
                history_reqs.append(r)
            db.session.add_all(history_reqs)
            db.session.flush()
            held: dict = {}
            for i, r in enumerate(history_reqs):
                offer = rows[i % len(rows)]
                day = today - timedelta(days=1 + i % 365)
                db.session.add(Booking(request_id=r.id, offer_id=offer.id, occurrence_date=day, seats=1,
                                       status=BookingStatus.DONE, pickup_at=r.target_at, dropoff_at=r.target_at))
                held[(offer.id, day)] = held.get((offer.id, day), 0) + 1
            for (offer_id, day), n in held.items():
                seats = max(n, 4)
                db.session.add(OfferDay(offer_id=offer_id, day=day, capacity=seats, held=n))
            db.session.flush()
        db.session.execute(sa.text("UPDATE change_counters SET value = value + 1"))
        db.session.commit()
        operator, _ = create_staff("charge@lotocar.fr", "Charge", "Test", Role.OPERATOR)
        info["api_token"], _ = issue_token("charge@lotocar.fr")
        db.session.commit()
        info["driver_ids"] = [u.driver.id for u in drivers[:200]]
        info["insee"] = [c.insee for c in all_communes]
        serializer = app.session_interface.get_signing_serializer(app)
        # the session holds "<id>:<session token>" (Flask-Login's get_id, issue 16)
        info["operator_cookie"] = serializer.dumps({"_user_id": operator.get_id(), "_fresh": True})
        info["driver_cookies"] = [serializer.dumps({"_user_id": u.get_id(), "_fresh": True})
                                  for u in rng.sample(drivers, min(50, len(drivers)))]
        db.session.commit()  # get_id() gives a token to an account that had none
        info["request_ids"] = [r.id for r in reqs]
        # planner statistics, as autovacuum keeps them on a live database: without them the
        # freshly loaded history is planned as empty (a sequential scan of the 100,000 past
        # bookings for every passenger's "travelled with" drivers)
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return url, info


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"candidates": [], "driver_page": [], "trip_write": []})
    errors: dict[str, int] = field(default_factory=lambda: {"candidates": 0, "driver_page": 0, "trip_write": 0})
    error_times: list[float] = field(default_factory=list)
    write_failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def client_loop(port: int, info: dict, stats: Stats, stop_at: float, seed: int, driver_share: float,
                interval: float = 0.0) -> None:
    """Closed loop (interval 0: next request as soon as the last answered) or open loop
    (one request every `interval` seconds on average, Poisson arrivals)."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    next_at = time.monotonic()
    while time.monotonic() < stop_at:
        if interval:
            next_at += rng.expovariate(1.0 / interval)
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            if time.monotonic() >= stop_at:
                break
        if rng.random() < driver_share:
            kind, path = "driver_page", "/mes-trajets/"
            cookie = rng.choice(info["driver_cookies"])
        else:
            kind, path = "candidates", f"/requests/{rng.choice(info['request_ids'])}/candidates"
            cookie = info["operator_cookie"]
        start = time.perf_counter()
        ok = False
        try:
            conn.request("GET", path, headers={"Cookie": f"session={cookie}"})
            resp = conn.getresponse()
            resp.read()
            ok = resp.status == 200
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        elapsed = (time.perf_counter() - start) * 1000
        with stats.lock:
            if ok:
                stats.latencies[kind].append(elapsed)
            else:
                stats.errors[kind] += 1
                stats.error_times.append(time.monotonic())
    conn.close()


def writer_loop(port: int, info: dict, stats: Stats, stop_at: float, rate: float, seed: int) -> None:
    """Posts regular trips through the JSON API, `rate` per second (Poisson arrivals)."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    today = date.today()
    next_at = time.monotonic()
    while True:
        next_at += rng.expovariate(rate)
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if time.monotonic() >= stop_at:
            break
        origin, dest = rng.sample(info["insee"], 2)
        body = {"driver_id": rng.choice(info["driver_ids"]), "origin": {"insee": origin}, "destination": {"insee": dest},
                "recurrence": {"weekdays": [1, 2, 3, 4, 5], "time": f"{rng.choice([7, 8, 17]):02d}:{rng.choice([0, 30]):02d}",
                               "start_date": (today + timedelta(days=1)).isoformat(),
                               "end_date": (today + timedelta(days=90)).isoformat()},
                "seats": 3, "max_detour_minutes": 10}
        start = time.perf_counter()
        ok = False
        try:
            conn.request("POST", "/api/v1/offers", body=json.dumps(body),
                         headers={"Authorization": f"Bearer {info['api_token']}", "Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = resp.read()
            ok = resp.status == 201
            if not ok and len(stats.write_failures) < 3:
                stats.write_failures.append(f"{resp.status} {answer[:300]!r}")
        except (OSError, http.client.HTTPException) as exc:
            if len(stats.write_failures) < 3:
                stats.write_failures.append(repr(exc))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with stats.lock:
            if ok:
                stats.latencies["trip_write"].append((time.perf_counter() - start) * 1000)
            else:
                stats.errors["trip_write"] += 1
    conn.close()


def workers_memory_mb(master_pid: int) -> list[tuple[float, float, float]]:
    """(RSS, PSS, USS) of each gunicorn worker (children of the master), in MB, sorted by RSS.

    RSS (/proc/<pid>/statm) is the target figure; PSS and USS (/proc/<pid>/smaps_rollup)
    say how much of it is shared with the master and the other workers (copy-on-write):
    USS is what the worker alone holds, PSS charges each shared page to its sharers."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            if ppid != master_pid:
                continue
            with open(f"/proc/{pid}/statm") as fh:
                rss = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
            rollup = {}
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    parts = line.split()
                    if len(parts) == 3 and parts[2] == "kB":
                        rollup[parts[0].rstrip(":")] = int(parts[1]) * 1024 / 1e6
            pss = rollup.get("Pss", float("nan"))
            uss = rollup.get("Private_Clean", float("nan")) + rollup.get("Private_Dirty", float("nan"))
            out.append((rss, pss, uss))
        except (OSError, ValueError, IndexError):
            continue
    return sorted(out)


def drop_database(name: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    for _ in range(10):
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            break
        except sa.exc.OperationalError:
            time.sleep(1)
    admin.dispose()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="open loop: total requests per second (0 = closed loop, as fast as possible)")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--driver-share", type=float, default=0.3)
    parser.add_argument("--restart-db", action="store_true", help="restart PostgreSQL in the middle of the run")
    parser.add_argument("--seed", type=int, default=46)
    parser.add_argument("--write-rate", type=float, default=0.0,
                        help="trips posted per second through the API while the readers run")
    parser.add_argument("--past-bookings", type=int, default=0, help="done bookings in the history")
    parser.add_argument("--keep-db", action="store_true",
                        help="keep the database afterwards (and its client data in /tmp/<name>.json) for --reuse-db")
    parser.add_argument("--reuse-db", metavar="NAME",
                        help="run on a database kept by --keep-db instead of building one (kept again; the trips "
                             "written by earlier runs stay in it)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    if args.reuse_db:
        name = args.reuse_db
        url = f"{PG_SERVER}/{name}"
        info = json.loads(Path(f"/tmp/{name}.json").read_text())
        print(f"database {name} reused (built with {info.get('built_with', '?')})")
    else:
        name = f"lotocar_load_{uuid.uuid4().hex[:6]}"
        url, info = build_database(name, args.offers, args.requests, args.seed, args.past_bookings)
        print(f"database {name}: {args.offers} trips, {args.requests} open requests, {args.past_bookings} past bookings, "
              f"built in {time.perf_counter() - t0:.1f} s")
        if args.keep_db:
            info["built_with"] = f"{args.offers} trips, {args.requests} requests, {args.past_bookings} past bookings"
            Path(f"/tmp/{name}.json").write_text(json.dumps(info))
    keep = args.keep_db or bool(args.reuse_db)
    log_path = Path(f"/tmp/{name}.log")
    server_log = log_path.open("wb")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "load-test", "APP_ENV": "development",
           "RATELIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING", "SMS_GATEWAY": "dev"}
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
         "--timeout", "120", "--log-level", "warning", "app:app"],
        cwd=ROOT, env=env, start_new_session=True, stderr=server_log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        # warm up: every worker builds its matching index on its first candidates query
        t1 = time.perf_counter()
        warm = Stats()
        warm_threads = [threading.Thread(target=client_loop, args=(port, info, warm, time.monotonic() + 8, i, 0.0))
                        for i in range(args.workers * 2)]
        for t in warm_threads:
            t.start()
        for t in warm_threads:
            t.join()
        print(f"warm-up: {len(warm.latencies['candidates'])} requests in {time.perf_counter() - t1:.1f} s "
              f"(first queries build each worker's index; slowest {max(warm.latencies['candidates'] or [0]):.0f} ms)")

        stats = Stats()
        server_log.flush()
        log_offset = log_path.stat().st_size
        stop_at = time.monotonic() + args.duration
        interval = args.clients / args.rate if args.rate else 0.0
        threads = [threading.Thread(target=client_loop,
                                    args=(port, info, stats, stop_at, 100 + i, args.driver_share, interval))
                   for i in range(args.clients)]
        if args.write_rate:
            threads.append(threading.Thread(target=writer_loop,
                                            args=(port, info, stats, stop_at, args.write_rate, 7)))
        started = time.monotonic()
        for t in threads:
            t.start()
        restart_at = None
        if args.restart_db:
            time.sleep(args.duration / 3)
            restart_at = time.monotonic()
            cluster = sorted(os.listdir("/etc/postgresql"))[0]
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"], check=True)
            print(f"PostgreSQL restarted at t={restart_at - started:.1f} s")
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        memory = workers_memory_mb(server.pid)
        rss = [m[0] for m in memory]
        with log_path.open("rb") as fh:
            fh.seek(log_offset)
            run_log = fh.read().decode("utf-8", "replace")
        rebuilds = run_log.count("matching index rebuilt")
        total_ok = sum(len(v) for k, v in stats.latencies.items() if k != "trip_write")
        mode = f"open loop at {args.rate:g} req/s" if args.rate else "closed loop"
        print(f"load: {args.clients} client threads ({mode}), {args.workers} gunicorn workers, {elapsed:.0f} s")
        for kind, values in stats.latencies.items():
            print(f"  {kind:12s} {len(values):6d} ok {stats.errors[kind]:4d} errors  {len(values) / elapsed:7.1f} req/s  "
                  f"p50 {pct(values, 50):6.1f} ms  p95 {pct(values, 95):6.1f} ms  p99 {pct(values, 99):6.1f} ms")
        errors_after = 0
        if restart_at is not None:
            late = [t for t in stats.error_times if t > restart_at + 10]
            errors_after = len(late)
            print(f"  errors during the restart window: {len(stats.error_times)}; "
                  f"errors more than 10 s after the restart: {errors_after} (0 = recovered without restarting the app)")
        for failure in stats.write_failures:
            print(f"  trip write failed: {failure}")
        print(f"  full matching-index rebuilds logged by the workers during the run: {rebuilds}")
        print(f"  workers' resident memory: {', '.join(f'{m:.0f} MB' for m in rss)}")
        print(f"  workers' memory RSS/PSS/USS: {', '.join(f'{r:.0f}/{p:.0f}/{u:.0f} MB' for r, p, u in memory)}")
        c = stats.latencies["candidates"]
        d = stats.latencies["driver_page"]
        print(f"RESULT trips={args.offers} requests={args.requests} workers={args.workers} clients={args.clients} "
              f"target_rps={args.rate:g} "
              f"rps={total_ok / elapsed:.1f} cand_p50_ms={pct(c, 50):.1f} cand_p95_ms={pct(c, 95):.1f} "
              f"cand_p99_ms={pct(c, 99):.1f} driver_p95_ms={pct(d, 95):.1f} "
              f"write_rate={args.write_rate:g} writes={len(stats.latencies['trip_write'])} "
              f"past_bookings={args.past_bookings} rebuilds={rebuilds} max_worker_rss_mb={max(rss or [0]):.0f} "
              f"max_worker_pss_mb={max([m[1] for m in memory] or [0]):.0f} "
              f"max_worker_uss_mb={max([m[2] for m in memory] or [0]):.0f} "
              f"errors={sum(stats.errors.values())} errors_after_restart={errors_after}")
        return 0 if errors_after == 0 else 1
    finally:
        server_log.close()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        if keep:
            print(f"database {name} kept (--reuse-db {name}); drop it with: DROP DATABASE \"{name}\"")
        else:
            drop_database(name)


if __name__ == "__main__":
    sys.exit(main())
