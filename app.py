"""Entry point for `flask` (FLASK_APP=app) and gunicorn (`gunicorn app:app`)."""
from lotocar import create_app

app = create_app()
