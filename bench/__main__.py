"""`make bench`: run every bench/bench_*.py in turn (`python -m bench [name …]`)."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    modules = sorted(p.stem for p in here.glob("bench_*.py"))
    chosen = [m for m in modules if not names or m.removeprefix("bench_") in names]
    failures = 0
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        try:
            # Each bench parses its own options: give it none, never `make bench`'s argv.
            result = module.main([]) if _takes_argv(module.main) else module.main()
            failures += bool(result)
        except SystemExit as exc:
            failures += bool(exc.code)
        print(f"({name} took {time.perf_counter() - start:.0f} s)", flush=True)
    return 1 if failures else 0


def _takes_argv(function) -> bool:
    import inspect

    return bool(inspect.signature(function).parameters)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
