"""Benchmark our MES against pabutools' on the shared pabulib files: same outcome, how much faster.

Usage: python bench/bench_tally.py [--quick] [--live-up-to SECONDS] [--no-pabutools]
                                   [--repeat N] [FILE.pb ...]

Per file: pabutools' time (rule ``mes`` of the shared README: Add1 with exhaustive stop,
completed by greedy), ours, the ratio against the goal (100x), whether the outcome is the
same, and the whole-process time of ``python -m services.budget.cli tally FILE --rule mes``
(interpreter start-up, imports and parsing included): wall time, and CPU time in brackets
(the honest figure on a busy machine).

- pabutools is run live when installed and when its recorded time (expected.json
  ``pabutools_seconds``) is at most ``--live-up-to`` seconds (default 10: the big Warsaw
  files take minutes to hours there); otherwise its RECORDED time is used and labelled
  ``rec`` (measured on a 2-core machine; the shared README's figure where expected.json has
  none). Ordinal files are not run live (pabutools' cardinal satisfaction refuses ordinal
  ballots; expected.json's outcome converts ranks to points as the shared README says).
- "same" compares our winners with expected.json's ``mes`` (pabutools 1.2.3's outcome,
  cross-checked), and with live pabutools' winners when it ran; the whole-process run must
  print the same winners too.
- Times are CPU seconds of this process (``time.process_time``), ours and live pabutools'
  alike, so that the ratio holds on a busy machine (8 helpers share 2 cores here); ours is
  the best of ``--repeat`` runs (parsing excluded), its wall time in brackets. Recorded
  pabutools times are wall times on a quiet 2-core machine, not this one: the last lines
  scale them by how much slower pabutools ran here than recorded (the median over the
  files run both ways) and give the recorded-only files' ratios again with that factor.

Exits 1 only if an outcome differs (speed is printed, not enforced).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.budget import pabulib, tally  # noqa: E402

QUICK = ["Poland_Swiecie_2023.pb"]  # pabutools takes about 2 seconds here
GOAL = 100.0

# pabutools' mes time where expected.json has none: the shared README's approximate figure.
README_SECONDS = {"Poland_Warszawa_2026.pb": 450.0}
# Files whose recorded time is at least this long calibrate the machine (shorter ones are
# mostly pabutools' fixed costs and timer noise).
CALIBRATE_FROM = 0.1


def shared_folder() -> Path:
    """Where the shared pabulib files live."""
    return Path(os.environ.get("SHARITORIES_SHARED", REPO.parent / "shared")) / "pabulib"


def expected_of(folder: Path) -> dict:
    try:
        return json.loads((folder / "expected.json").read_text())
    except (OSError, ValueError):
        return {}


def recorded_seconds(expected: dict, name: str) -> float | None:
    """pabutools' recorded mes time for a file (not measured here)."""
    seconds = expected.get(name, {}).get("pabutools_seconds", {}).get("mes_add1u_pabutools")
    if seconds is not None:
        return float(seconds)
    return README_SECONDS.get(name)


def natural(ids) -> list[str]:
    """Project ids in expected.json's order (numbers by value, then text)."""
    return sorted(ids, key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)])


def ours(path: Path, repeat: int) -> tuple[list[str], float, float]:
    """Our mes outcome, its best CPU time and that run's wall time (parsing excluded)."""
    problem = pabulib.to_problem(pabulib.load(path))
    best, wall = float("inf"), float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = tally.mes(problem)
        cpu = time.process_time() - start_cpu
        if cpu < best:
            best, wall = cpu, time.perf_counter() - start
        if best > 1.0:
            break
    return natural(result.selected), best, wall


def whole_process(path: Path) -> tuple[list[str], float, float]:
    """Winners printed by the CLI, and the wall and CPU time of the whole process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "services.budget.cli", "tally", str(path)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [*command, "--rule", "mes", "--json"], env=env, capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return natural(json.loads(done.stdout)["selected"]), seconds, cpu


def theirs(path: Path) -> tuple[list[str], float] | None:
    """pabutools' mes outcome (the README reference call) and its CPU time, if installed."""
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
    start = time.process_time()
    outcome = completion_by_rule_combination(
        instance,
        profile.as_multiprofile(),
        [method_of_equal_shares, greedy_utilitarian_welfare],
        [{"sat_class": sat, "voter_budget_increment": 1}, {"sat_class": sat}],
    )
    return natural(p.name for p in outcome), time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="file names in the shared pabulib folder")
    parser.add_argument("--quick", action="store_true", help="one small file (seconds)")
    parser.add_argument("--no-pabutools", action="store_true", help="recorded times only")
    parser.add_argument("--live-up-to", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    folder = shared_folder()
    if not folder.is_dir():
        print(f"no pabulib files at {folder} (set SHARITORIES_SHARED); nothing to bench")
        return 0
    expected = expected_of(folder)
    names = args.files or (QUICK if args.quick else sorted(p.name for p in folder.glob("*.pb")))
    print(
        f"{'file':<44} {'pabutools':>14} {'ours (wall)':>20} {'ratio':>6} {'goal':>5} "
        f"{'met':>3} {'same':>4} {'process wall (cpu)':>18}",
        flush=True,
    )
    status = 0
    below = []
    speed: list[float] = []  # pabutools here / its recorded time, where both are known
    recorded_only: list[tuple[str, float, float]] = []  # (file, recorded, ours)
    for name in names:
        path = folder / name
        selected, our_time, our_wall = ours(path, args.repeat)
        same = True
        known = expected.get(name, {}).get("mes")
        if known is not None:
            same &= natural(known) == selected
        recorded = recorded_seconds(expected, name)
        live = not args.no_pabutools and (recorded is None or recorded <= args.live_up_to)
        try:
            reference = theirs(path) if live else None
        except ValueError:  # pabutools' cardinal satisfaction refuses ordinal ballots
            reference = None
        if reference is not None:
            their_selected, their_time = reference
            same &= their_selected == selected
            label = "live"
            if recorded is not None and recorded >= CALIBRATE_FROM:
                speed.append(their_time / recorded)
        else:
            their_time, label = recorded, "rec"
            if recorded is not None:
                recorded_only.append((name, recorded, our_time))
        printed, process_time, process_cpu = whole_process(path)
        same &= printed == selected
        status |= not same
        if their_time is None:
            ratio_text, met = "-", "?"
        else:
            ratio = their_time / our_time
            ratio_text, met = f"{ratio:.0f}x", "yes" if ratio >= GOAL else "NO"
            if ratio < GOAL:
                below.append(name)
        theirs_text = "-" if their_time is None else f"{their_time:.3f} s {label}"
        ours_text = f"{our_time:.3f} s ({our_wall:.3f} s)"
        print(
            f"{name[:44]:<44} {theirs_text:>14} {ours_text:>20} {ratio_text:>6} "
            f"{GOAL:>4.0f}x {met:>3} {'yes' if same else 'NO':>4} "
            f"{process_time:>7.2f} s ({process_cpu:.2f} s)",
            flush=True,
        )
    print(f"goal {GOAL:.0f}x met on {len(names) - len(below)} of {len(names)} files", end="")
    print(f"; below: {', '.join(below)}" if below else "")
    print("pabutools 'rec' = recorded time (expected.json / shared README), not run now")
    text, lifted = calibrated(speed, recorded_only)
    if text:
        print(text)
        still = [name for name in below if name not in lifted]
        print(
            f"with recorded times calibrated: goal met on {len(names) - len(still)} of "
            f"{len(names)} files" + (f"; below: {', '.join(still)}" if still else "")
        )
    return status


def calibrated(
    speed: list[float], recorded_only: list[tuple[str, float, float]]
) -> tuple[str, set[str]]:
    """The recorded-only ratios again, with pabutools' recorded times scaled to this machine.

    Recorded times come from another machine; ours are measured here. pabutools' live time
    over its recorded time, on the files run both ways in this run, says how much slower
    (or faster) this machine runs it: the median of those factors scales the recorded ones.
    Returns the lines to print and the files that meet the goal with that factor.
    """
    if not recorded_only:
        return "", set()
    if not speed:
        return "no file ran pabutools both live and recorded: recorded times not calibrated", set()
    factor = statistics.median(speed)
    lines = [
        f"pabutools ran {factor:.2f}x its recorded time on this machine (median of "
        f"{len(speed)} files run live, {min(speed):.2f}-{max(speed):.2f}x); recorded-only "
        "files with that factor:"
    ]
    lifted = set()
    for name, recorded, ours in recorded_only:
        ratio = factor * recorded / ours
        met = "yes" if ratio >= GOAL else "NO"
        if ratio >= GOAL:
            lifted.add(name)
        lines.append(f"  {name[:44]:<44} {factor * recorded:>9.3f} s  {ratio:>6.0f}x  met {met}")
    return "\n".join(lines), lifted


if __name__ == "__main__":
    sys.exit(main())
