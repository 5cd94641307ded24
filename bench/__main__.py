"""`python -m bench` (make bench): run every benchmark with its default size, one by one.

Each module also runs alone: `python -m bench.<name> --help`. Results go in bench/README.md.
"""

from __future__ import annotations

import subprocess
import sys

BENCHES = (
    "matcher",
    "ingest",
    "paperlist",
    "queries",
    "schedule_delay",
    "memory",
    "loop_stall",
    "cli_startup",
    "site",
    "tagger_eval",
    "model_eval",
    "model_speed",
    "crash",
)

if __name__ == "__main__":
    chosen = sys.argv[1:] or list(BENCHES)
    for name in chosen:
        print(f"\n=== bench.{name}", flush=True)
        subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False)
