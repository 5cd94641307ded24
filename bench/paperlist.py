"""Merging 50 papers into a 100k-entry list: bot.paperlist.merge against two naive baselines.

Run: .venv/bin/python -m bench.paperlist [--entries N] [--repeat R]

- merge: one scan of the text, then the new lines spliced in (what the bot uses).
- naive re-render: parse the whole list into a model, add the papers, print every line again.
- naive str.replace: per paper, search the whole text for its id, then insert its line with
  str.replace after the section heading (or a new section after the warning line).
Both baselines are wrong on real lists (re-rendering loses irregular blank lines, inserting
after the heading puts papers at the top of a section); they are here to show the cost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable, Sequence

from bot.paperlist import (
    WARNING,
    NewEntry,
    entry_line,
    ids_in,
    merge,
    normalize_title,
    parse,
)

TOP = dt.date(2025, 3, 17)


def _weekdays(start: dt.date, count: int) -> list[dt.date]:
    days: list[dt.date] = []
    day = start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= dt.timedelta(days=1)
    return days


def _list_id(n: int) -> str:
    """A valid, unique new-style id for the n-th entry: 10,000 a month from 2412 back."""
    year, month = divmod(2024 * 12 + 11 - n // 10_000, 12)
    return f"{year % 100:02d}{month + 1:02d}.{n % 10_000:05d}"


def make_list(entries: int, per_section: int = 10) -> tuple[str, list[dt.date]]:
    """A list like the real one: newest first, some tagged entries with TL;DR, uneven blanks."""
    days = _weekdays(TOP, (entries + per_section - 1) // per_section)
    out = [WARNING, ""]
    n = 0
    for s, day in enumerate(days):
        out += [f"### {day.isoformat()}", ""]
        for _ in range(min(per_section, entries - n)):
            pid = _list_id(n)
            if n % 10 == 3:
                out.append(
                    f"* `serving` `MoE` [Tagged paper number {n}](http://arxiv.org/abs/{pid}v1)"
                )
                out.append(f"  > **TL;DR**: paper {n} makes serving faster.")
            else:
                out.append(
                    f"* [A survey of things, part {n}: λ-calculus at scale](https://arxiv.org/abs/{pid})"
                )
            n += 1
        out += [""] * (2 if s % 3 else 1)
    return "\n".join(out) + "\n", days


def new_papers(days: list[dt.date]) -> list[NewEntry]:
    """50 papers: 25 for a new top section, 15 for the top section, 10 for a section deep down."""
    papers = [
        NewEntry(f"2503.9{i:04d}", f"New paper {i}", TOP + dt.timedelta(days=1)) for i in range(25)
    ]
    papers += [NewEntry(f"2503.8{i:04d}v2", f"Late paper {i}", TOP) for i in range(15)]
    deep = days[len(days) * 3 // 4]
    papers += [
        NewEntry(f"https://arxiv.org/abs/2301.7{i:04d}", f"Old [paper] {i}", deep)
        for i in range(10)
    ]
    return papers


def naive_rerender(text: str, papers: Sequence[NewEntry]) -> str:
    doc = parse(text)
    present = set(doc.ids())
    by_date: dict[dt.date, list[str]] = {}
    for section in doc.sections:
        if section.date is not None:
            by_date.setdefault(section.date, []).extend(
                line
                for e in section.entries
                for line in (e.text.rstrip("\n"), *(n.rstrip("\n") for n in e.notes))
            )
    for p in papers:
        if p.id not in present:
            present.add(p.id)
            by_date.setdefault(p.date, []).append(entry_line(p.id, p.title))
    out = [WARNING, ""]
    for day in sorted(by_date, reverse=True):
        out += [f"### {day.isoformat()}", "", *by_date[day], "", ""]
    return "\n".join(out)


def naive_replace(text: str, papers: Sequence[NewEntry]) -> str:
    for p in papers:
        pid = p.id.rsplit("/", 1)[-1].split("v")[0]
        if f"/abs/{pid})" in text or f"/abs/{pid}v" in text:
            continue
        line = f"* [{normalize_title(p.title)}](https://arxiv.org/abs/{pid})\n"
        heading = f"### {p.date.isoformat()}\n\n"
        if heading in text:
            text = text.replace(heading, heading + line, 1)
        else:
            text = text.replace(WARNING + "\n\n", WARNING + "\n\n" + heading + line + "\n\n", 1)
    return text


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best and median wall time: the best is the least disturbed by other load on the box."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    text, days = make_list(args.entries)
    papers = new_papers(days)
    merged = merge(text, papers, ())
    assert merged.startswith(WARNING + "\n\n### 2025-03-18\n\n* [New paper 0]")
    assert len(ids_in(merged)) == args.entries + len(papers)
    assert merge(merged, papers, ()) == merged

    size = f"{len(text) / 1e6:.1f} MB"
    print(
        f"list: {args.entries} entries, {len(days)} sections, {size}; adding {len(papers)} papers"
    )
    timings = [
        ("merge (scan once + splice)", _time(lambda: merge(text, papers, ()), args.repeat)),
        ("merge, all 50 already listed", _time(lambda: merge(merged, papers, ()), args.repeat)),
        ("ids_in", _time(lambda: ids_in(text), args.repeat)),
        ("parse (full model, for reference)", _time(lambda: parse(text), args.repeat)),
        ("naive parse + re-render", _time(lambda: naive_rerender(text, papers), args.repeat)),
        ("naive str.replace per paper", _time(lambda: naive_replace(text, papers), args.repeat)),
    ]
    best = timings[0][1][0]
    print(f"best / median of {args.repeat} runs")
    for name, (low, mid) in timings:
        ratio = f"  ({low / best:.1f}x merge)" if name.startswith("naive") else ""
        print(f"  {name:<36}{low * 1000:8.1f} / {mid * 1000:6.1f} ms{ratio}")


if __name__ == "__main__":
    main()
