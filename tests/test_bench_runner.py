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
