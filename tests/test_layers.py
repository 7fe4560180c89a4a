"""One layer order for lotocar/ (README, "Layers"), checked over every import of every module,
at module level or inside a function alike (an import hidden in a function is still an
import):

    core → communes → people (auth, drivers, passengers) → offers, requests → bookings
    → candidates → notifications → privacy, stats → console, api, web (edges)

A module imports only from its own feature or from a lower layer; features of one layer
share only their models (a driver is a user: auth ↔ drivers). Feature modules named `views`
or `cli` are edges (they commit the actions) and sit on the top layer with the console, the
API, the app factory, the CLI and the background jobs.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lotocar"

LAYERS: list[set[str]] = [
    {"extensions", "config"},  # the Flask extensions and settings, under core
    {"core"},
    {"audit"},  # the audit trail every feature writes to

    {"communes"},
    {"roads"},  # the road graph and matrix between places: read by candidates and stats
    {"auth", "drivers", "passengers", "api.models"},  # API tokens are rows of staff accounts
    {"offers", "requests"},
    {"contributions"},  # what a ride is worth: read by bookings (fixed at confirmation) and above
    {"bookings"},
    {"candidates"},
    {"notifications"},
    {"privacy", "stats", "statements", "rpc"},
    {"console", "api", "web", "demo", "jobs", "cli", "models", "__init__"},
]
EDGE_MODULES = {"views", "cli"}  # and "<name>_views" (a feature's second blueprint)
TOP = len(LAYERS) - 1


def feature_of(module: str) -> str:
    """`lotocar.bookings.operations` → 'bookings'; `lotocar.api.models` → 'api.models'."""
    parts = module.split(".")[1:] or ["__init__"]
    if ".".join(parts[:2]) in set().union(*LAYERS):
        return ".".join(parts[:2])
    return parts[0]


def layer_of(module: str) -> int:
    parts = module.split(".")
    if len(parts) >= 3 and (parts[-1] in EDGE_MODULES or parts[-1].endswith("_views")):
        return TOP
    feature = feature_of(module)
    for i, members in enumerate(LAYERS):
        if feature in members:
            return i
    raise AssertionError(f"{module}: feature '{feature}' has no place in the layer order (add it to LAYERS "
                         f"and the README)")


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        out.append((name, path))
    return out


def imports_of(name: str, path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            for alias in node.names:  # `from lotocar.bookings import operations`
                found.append((node.lineno, f"{target}.{alias.name}"))
    return [(line, t) for line, t in found if t == "lotocar" or t.startswith("lotocar.")]


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_every_import_follows_the_layer_order() -> None:
    wrong = []
    for name, path in modules():
        mine = layer_of(name)
        for line, target in imports_of(name, path):
            if not is_module(target):
                continue  # `from lotocar.x import some_function`: the module itself is checked
            if target == "lotocar" or feature_of(target) == feature_of(name):
                continue
            theirs = layer_of(target)
            peer_models = theirs == mine and target.endswith(".models")
            if theirs > mine or (theirs == mine and mine != TOP and not peer_models):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {name} (layer {mine}) imports {target} "
                             f"(layer {theirs})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_the_order_is_the_one_the_readme_states() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ("core → communes → people (auth, drivers, passengers) → offers, requests → bookings → "
            "candidates → notifications → privacy, stats → console, api, web") in readme


def test_the_checker_sees_hidden_and_relative_imports(tmp_path) -> None:
    source = "def f():\n    from lotocar.privacy import operations\n"
    path = tmp_path / "x.py"
    path.write_text(source)
    assert (2, "lotocar.privacy.operations") in imports_of("lotocar.notifications.x", path)
    assert layer_of("lotocar.offers.views") == TOP
    assert layer_of("lotocar.offers.operations") == layer_of("lotocar.requests.operations") \
        < layer_of("lotocar.bookings.operations") < layer_of("lotocar.candidates.operations")
    assert layer_of("lotocar.api.models") == layer_of("lotocar.auth.models") and layer_of("lotocar.api.operations") == TOP
    assert layer_of("lotocar.privacy.operations") > layer_of("lotocar.notifications.worker")


def test_operations_never_commit() -> None:
    """One transaction per action: only edges (views, CLI, API handlers, the worker's ticks,
    the jobs) commit; core.tx is the helper they use."""
    edges = {"lotocar.core.tx", "lotocar.notifications.worker", "lotocar.rpc.worker", "lotocar.api.auth",
             "lotocar.jobs"}
    wrong = []
    for name, path in modules():
        if name in edges or layer_of(name) == TOP:
            continue
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if ".commit()" in text and not text.lstrip().startswith("#"):
                wrong.append(f"{path.relative_to(ROOT)}:{number}: {text.strip()}")
    assert not wrong, "commit() outside the edges:\n" + "\n".join(wrong)
