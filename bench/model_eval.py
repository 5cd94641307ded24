"""`paperbot model eval` on the shared fixture pool: the learnt taste beside the team's rules
and a plain TF-IDF baseline, replayed day by day (each day sees only earlier labels)."""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

from bot.config import load_config
from bot.taste import TasteParams
from bot.taste_eval import BASELINE, read_accepted, read_pool, run_eval

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--pool", type=Path, default=FIXTURES / "pool/cs-dc-os-candidates.to-2026-03-30.jsonl"
    )
    ap.add_argument("--list", type=Path, default=FIXTURES / "lists/daily-arxiv-llm.2026-03-30.md")
    ap.add_argument("--config", type=Path, default=Path(__file__).with_name("team-routes.toml"))
    ap.add_argument("--start", default="2026-01-01")
    ap.add_argument("--end", default="2026-03-30")
    ap.add_argument("--retrain-days", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    route = load_config(args.config).routes[0]
    records = read_pool(args.pool, route)
    accepted = read_accepted(args.list)
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    results = {}
    lines: list[str] = []
    for name, params in (("model", TasteParams()), ("tfidf", BASELINE)):
        t0 = time.perf_counter()
        results[name] = run_eval(
            records,
            accepted,
            start,
            end,
            params=params,
            policy=route.model,
            retrain_days=args.retrain_days,
            on_line=lambda s, n=name: lines.append(json.dumps({"scorer": n, **s.as_dict()})),
        )
        print(f"{name}: replayed in {time.perf_counter() - t0:.1f} s")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    m, b = results["model"], results["tfidf"]
    print(
        f"{m.days} days measured ({m.skipped_days} without any acceptance skipped), "
        f"{m.candidates} candidates, {m.accepted} accepted; rules matched {m.volume}"
    )
    print(f"{'':<22}{'avg prec':>9}{'precision':>11}{'recall':>8}")
    print(f"{'rules alone':<22}{'-':>9}{m.rules_precision:>11.3f}{m.rules_recall:>8.3f}")
    for label, s in (("plain TF-IDF + LR", b), ("learnt taste", m)):
        print(f"{label:<22}{s.average_precision:>9.3f}{s.precision:>11.3f}{s.recall:>8.3f}")
    ratio = m.average_precision / b.average_precision
    print(
        f"ratio (ours / baseline): average precision {ratio:.2f}x,"
        f" precision at the rules' volume {m.precision / b.precision:.2f}x;"
        f" vs rules: {(m.precision - m.rules_precision) * 100:+.1f} points precision,"
        f" {(m.recall - m.rules_recall) * 100:+.1f} points recall"
    )
    print(
        f"suggested (unmatched, >= suggest_at {route.model.suggest_at}): {m.suggested},"
        f" {m.suggested_accepted} accepted; rules + suggestions (what is posted): precision"
        f" {m.posted_precision:.3f}, recall {m.posted_recall:.3f}"
    )


if __name__ == "__main__":
    main()
