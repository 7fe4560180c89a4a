"""matching/ is a pure library: no web framework, no ORM, no eager HTTP client."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE = ROOT / "matching"
FORBIDDEN = ("flask", "sqlalchemy", "flask_sqlalchemy", "geoalchemy2", "werkzeug", "alembic")

PROBE = """
import sys
import matching
from matching import (Point, Router, StraightLineRouter, OSRMRouter, RouterError, Leg, Offer, Request,
                      Candidate, Recurrence, CorridorIndex, Matcher, brute_force_candidates, band_for_detour)
import matching.geo, matching.index, matching.matcher, matching.model, matching.osrm, matching.router, matching.rules
OSRMRouter("http://127.0.0.1:9")
loaded = sorted({m.split(".")[0] for m in sys.modules} & {FORBIDDEN} | ({"requests"} & set(sys.modules)))
print(",".join(loaded))
"""


def test_importing_matching_loads_no_framework() -> None:
    code = PROBE.replace("{FORBIDDEN}", repr(set(FORBIDDEN)))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"matching imported: {out.stdout.strip()}"


def test_sources_only_import_stdlib_rtree_numpy_and_lazy_requests() -> None:
    allowed_top = {"rtree", "numpy", "requests"}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in FORBIDDEN, f"{path.name} imports {name}"
                if top not in sys.stdlib_module_names:
                    assert top in allowed_top, f"{path.name} imports third-party {name}"
        text = path.read_text(encoding="utf-8")
        assert "from __future__ import annotations" in text, path.name
    # requests is imported lazily, inside a function, only in osrm.py
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Import):
                assert all(a.name != "requests" for a in node.names), path.name
