"""Start-up cost of the CLI: wall time of `paperbot search WORDS` against `python -c pass`.

Run by hand:  .venv/bin/python -m bench.cli_startup [--runs 30]

Both run as real processes, alternating, in a temporary folder holding a routes file and a
small database; the ratio is paperbot's median over the interpreter's median.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "paperbot search cache": [sys.executable, "-m", "bot", "search", "cache"],
    "paperbot status": [sys.executable, "-m", "bot", "status"],
    "paperbot --help": [sys.executable, "-m", "bot", "--help"],
}


def wall(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "paperbot.toml").write_text(
            (ROOT / "paperbot.example.toml").read_text(encoding="utf-8"), encoding="utf-8"
        )
        (folder / ".env").write_text("", encoding="utf-8")
        for cmd in COMMANDS.values():  # warm the OS cache; creates the database
            wall(cmd, folder)
        times: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(args.runs):
            for name, cmd in COMMANDS.items():
                times[name].append(wall(cmd, folder))
    base = statistics.median(times["python -c pass"])
    print(f"{'command':<24} {'median ms':>10} {'p90 ms':>8} {'ratio':>7}")
    for name, values in times.items():
        med = statistics.median(values)
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        print(f"{name:<24} {med * 1000:10.0f} {p90 * 1000:8.0f} {med / base:6.1f}x")
    search = statistics.median(times["paperbot search cache"])
    print(f"goal search < 200 ms: {'met' if search < 0.2 else 'NOT met'} ({search * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
