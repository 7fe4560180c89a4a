"""The benchmark's quick mode runs and agrees with the oracle (CI smoke check)."""

from __future__ import annotations

import re

import pytest

from bench import bench_matching


def test_bench_quick_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_matching.main(["--quick"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    found = re.fullmatch(
        r"RESULT offer_days=5000 trips=\d+ requests=100 build_s=\S+ rss_mb=\S+ p50_ms=\S+ p95_ms=\S+ "
        r"vs_numpy=\S+x vs_postgis=n/a recall=1\.000 tours=(\d+) filter_p50_ms=\S+ filter_p95_ms=\S+ "
        r"filter_vs_numpy=\S+x filter_vs_postgis=n/a", last)
    assert found, last
    # issue #12: about 30 % of the runs carry one passenger and 10 % two
    assert 0.30 <= int(found.group(1)) / 5000 <= 0.45, last
