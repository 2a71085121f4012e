"""Benchmark our MES against pabutools' on shared pabulib files: same outcome, how much faster.

Usage: python bench/bench_tally.py [--quick] [--no-pabutools] [FILE.pb ...]

When pabutools is not run here, the speed-up is printed against pabutools' RECORDED time
(expected.json ``pabutools_seconds``, measured on a 2-core machine; the shared README's
approximate figure where expected.json has none), labelled as such.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.budget import pabulib, tally  # noqa: E402

DEFAULT = ["Poland_Warszawa_2019_Ursynow.pb"]  # pabutools takes about 2 minutes here
QUICK = ["Poland_Swiecie_2023.pb"]  # pabutools takes about 2 seconds here


# pabutools' mes time where expected.json has none: the shared README's approximate figure.
README_SECONDS = {"Poland_Warszawa_2026.pb": 450.0}


def recorded_seconds(folder: Path, name: str) -> tuple[float, str] | None:
    """pabutools' recorded mes time for a file (not measured here) and where it comes from."""
    try:
        expected = json.loads((folder / "expected.json").read_text())
    except (OSError, ValueError):
        expected = {}
    seconds = expected.get(name, {}).get("pabutools_seconds", {}).get("mes_add1u_pabutools")
    if seconds is not None:
        return float(seconds), "expected.json pabutools_seconds"
    if name in README_SECONDS:
        return README_SECONDS[name], "shared README, approximate"
    return None


def shared_folder() -> Path:
    """Where the shared pabulib files live."""
    return Path(os.environ.get("SHARITORIES_SHARED", REPO.parent / "shared")) / "pabulib"


def ours(path: Path) -> tuple[list[str], float]:
    """Our mes outcome and its wall time (parsing excluded)."""
    problem = pabulib.to_problem(pabulib.load(path))
    start = time.perf_counter()
    result = tally.mes(problem)
    return sorted(result.selected), time.perf_counter() - start


def theirs(path: Path) -> tuple[list[str], float] | None:
    """pabutools' mes outcome (the README reference call) and its wall time, if installed."""
    try:
        from pabutools.election import Additive_Cardinal_Sat, Cost_Sat, parse_pabulib
        from pabutools.rules import (
            completion_by_rule_combination,
            greedy_utilitarian_welfare,
            method_of_equal_shares,
        )
    except ImportError:
        return None
    instance, profile = parse_pabulib(str(path))
    approval = instance.meta["vote_type"] in ("approval", "choose-1")
    sat = Cost_Sat if approval else Additive_Cardinal_Sat
    start = time.perf_counter()
    outcome = completion_by_rule_combination(
        instance,
        profile.as_multiprofile(),
        [method_of_equal_shares, greedy_utilitarian_welfare],
        [{"sat_class": sat, "voter_budget_increment": 1}, {"sat_class": sat}],
    )
    return sorted(p.name for p in outcome), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*", help="file names in the shared pabulib folder")
    parser.add_argument("--quick", action="store_true", help="a small file (seconds)")
    parser.add_argument("--no-pabutools", action="store_true", help="time ours only")
    args = parser.parse_args(argv)
    folder = shared_folder()
    if not folder.is_dir():
        print(f"no pabulib files at {folder} (set SHARITORIES_SHARED)")
        return 1
    names = args.files or (QUICK if args.quick else DEFAULT)
    status = 0
    for name in names:
        path = folder / name
        selected, our_time = ours(path)
        print(f"{name}: ours {our_time:.2f} s, {len(selected)} projects", flush=True)
        reference = None if args.no_pabutools else theirs(path)
        if reference is None:
            if not args.no_pabutools:
                print("  pabutools is not installed: ours only")
            recorded = recorded_seconds(folder, name)
            if recorded is None:
                print("  no recorded pabutools time for this file")
            else:
                seconds, source = recorded
                print(
                    f"  RECORDED (not run now) pabutools {seconds:.1f} s [{source}, "
                    f"2-core machine]: speed-up vs recorded {seconds / our_time:.1f}x"
                )
            continue
        their_selected, their_time = reference
        same = their_selected == selected
        status |= not same
        print(
            f"  pabutools {their_time:.2f} s, same outcome: {same}, "
            f"speed-up {their_time / our_time:.1f}x"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
