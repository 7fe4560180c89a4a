"""Test setup for the matching library (plain folder, no __init__.py).

Makes the repository root and this folder importable whatever pytest's import mode is,
so ``import matching`` always resolves to the library (not to this tests folder, which
has the same name) and ``import matching_testutils`` finds the shared helpers.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent.parent
for _p in (str(_ROOT), str(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

_mod = sys.modules.get("matching")
if _mod is not None and getattr(_mod, "__file__", None) is None:  # namespace package of this folder
    del sys.modules["matching"]
