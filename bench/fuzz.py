"""The API fuzz run of tests/api_fuzz/ for longer than CI's bounded one.

    .venv/bin/python bench/fuzz.py [--examples 5000] [--steps 500]

Runs schemathesis over ``/openapi.json`` (every check but positive data acceptance; see the
test's module) with ``--examples`` generated requests across all operations and stateful
sequences of ``--steps`` calls in all, on SQLite, and prints how long it took. Any failure is
printed with a curl command that reproduces it: make it a regression test beside the code it
broke. Not a benchmark of speed: a longer search than CI can afford.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    env = {
        **os.environ,
        "BROADSHEET_FUZZ_EXAMPLES": str(args.examples),
        "BROADSHEET_FUZZ_STEPS": str(args.steps),
    }
    started = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/api_fuzz"]
    code = subprocess.call(command, cwd=ROOT, env=env)
    took = time.perf_counter() - started
    print(f"{args.examples:,} requests and {args.steps:,} stateful steps in {took:,.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
