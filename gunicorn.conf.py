"""gunicorn settings: `gunicorn -c gunicorn.conf.py app:app`.

The app is loaded once in the master (preload) and the matching index is built there
before the workers are forked, so every worker starts with it (copy-on-write) instead of
building its own on its first request. Each worker then keeps it in step with the
database (change counter) as usual.

Once the index is built, the master's objects are moved out of the garbage collector's
reach (`gc.freeze()`, as the gc module's documentation advises before a fork): a worker's
collections would otherwise write to every object inherited from the master and turn the
shared copy-on-write pages into private ones.
"""
import gc
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", min(4, multiprocessing.cpu_count() * 2)))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
preload_app = True
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None


def when_ready(server):
    from app import app
    from lotocar.candidates.service import service
    from lotocar.extensions import db

    with app.app_context():
        try:
            entries = service().warm()
            server.log.info("matching index built in the master: %d entries", entries)
        except Exception as exc:  # the database may not be migrated yet: workers build lazily
            server.log.warning("matching index not prebuilt: %s", exc)
        db.session.remove()
        db.engine.dispose()  # no connection may cross the fork
    gc.collect()  # nothing collectable left to freeze
    gc.freeze()
