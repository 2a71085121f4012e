"""`make bench` runs every bench: each `main` is a plain function taking its own argv."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

BENCHES = sorted(p.stem for p in (Path(__file__).parents[1] / "bench").glob("bench_*.py"))


@pytest.mark.parametrize("name", BENCHES)
def test_every_bench_main_is_callable_by_the_runner(name):
    main = importlib.import_module(f"bench.{name}").main
    # A coroutine would be created and never awaited by `python -m bench` (it exited 1).
    assert not inspect.iscoroutinefunction(main)
    assert list(inspect.signature(main).parameters) == ["argv"]


def test_recorded_pabutools_times_are_scaled_by_the_machine_they_are_compared_on():
    from bench.bench_tally import calibrated

    text, met = calibrated(
        [2.0, 4.0, 3.0], [("France_Toulouse_2022.pb", 10.0, 0.5), ("Big.pb", 100.0, 1.0)]
    )
    assert "ran 3.00x its recorded time" in text and "median of 3 files" in text
    assert "30.000 s" in text and "60x" in text and "met NO" in text
    assert "300x  met yes" in text and met == {"Big.pb"}
    assert "not calibrated" in calibrated([], [("a.pb", 1.0, 0.1)])[0]


def test_alternating_rounds_quote_the_median_ratio_of_their_own_rounds():
    from bench.harness import LoadResult, Rounds

    def load(rps: float) -> LoadResult:
        return LoadResult("x", 10, int(rps), 1.0, [0.01] * 10)

    rounds = Rounds([(load(100), load(40)), (load(100), load(20)), (load(50), load(30))])
    assert [round(r, 2) for r in rounds.ratios] == [0.4, 0.2, 0.6]
    assert rounds.median_ratio == 0.4
    assert rounds.median_pair()[1].requests == 40
    assert "ratios by round: 40%, 20%, 60%; median 40%" in rounds.table()
