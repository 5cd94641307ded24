"""`paperbot model train|status|eval`: the routes' learnt taste, from the command line."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # scikit-learn loads only when a model command runs
    from bot.models import Route
    from bot.settings import Settings
    from bot.taste_eval import Scored


def _routes(settings: Settings, name: str | None) -> tuple[Route, ...]:
    from bot.config import load_config

    config = load_config(settings.paperbot_config)
    return (config.route(name),) if name is not None else config.routes


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


@click.group("model")
def model_group() -> None:
    """Each route's model of the team's taste, learnt from its decisions."""


@model_group.command("train")
@click.option("--route", "route_name", help="Only this route (default: every route).")
@click.pass_context
def model_train(ctx: click.Context, route_name: str | None) -> None:
    """Retrain now from every decision so far; saved beside the database."""
    from bot.app import open_store
    from bot.taste_store import TasteStore, snapshot

    settings = _settings(ctx)
    tastes = TasteStore(settings.paperbot_db)
    with open_store(settings) as store:
        for route in _routes(settings, route_name):
            snap = snapshot(store, route)
            report = tastes.train(snap, trained_at=store.clock().isoformat())
            if report is None:
                click.echo(_cold(route, snap.decisions))
                continue
            click.echo(
                f"route '{route.name}': trained on {report.examples} papers "
                f"({report.positives} accepted, {report.strong_negatives} rejected, "
                f"{report.weak_negatives} left undecided) in {report.seconds:.1f} s"
            )


def _cold(route: Route, decisions: int) -> str:
    need = route.model.min_decisions
    return (
        f"route '{route.name}': silent, still learning: {decisions} of the {need} "
        "decisions it needs (accepted and rejected both count)"
    )


@model_group.command("status")
@click.option("--route", "route_name", help="Only this route (default: every route).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a route.")
@click.pass_context
def model_status(ctx: click.Context, route_name: str | None, as_json: bool) -> None:
    """Whether each route's model speaks, what it learnt from, and whether it is current."""
    from bot.app import open_store
    from bot.taste_store import TasteStore, snapshot

    settings = _settings(ctx)
    tastes = TasteStore(settings.paperbot_db)
    with open_store(settings) as store:
        for route in _routes(settings, route_name):
            snap = snapshot(store, route)
            ready = tastes.ready(snap)
            report = tastes.report(route.name) if ready else None
            state = "cold" if not ready else "missing" if report is None else "ready"
            if state == "ready" and tastes.stale(snap):
                state = "stale"
            info: dict[str, Any] = {
                "route": route.name,
                "state": state,
                "decisions": snap.decisions,
                "min_decisions": route.model.min_decisions,
                "suggest_at": route.model.suggest_at,
                "max_suggestions_per_day": route.model.max_suggestions_per_day,
                "model": str(tastes.model_path(route.name)),
                "report": report,
            }
            if as_json:
                click.echo(json.dumps(info))
            elif state == "cold":
                click.echo(_cold(route, snap.decisions))
            else:
                click.echo(_status_line(route, state, snap.decisions, report))


def _status_line(route: Route, state: str, decisions: int, report: dict[str, Any] | None) -> str:
    if report is None:
        return f"route '{route.name}': {decisions} decisions; no model yet (`model train`)"
    words = ", ".join(str(name) for name, _ in report.get("top_features", [])[:8])
    note = "; decisions changed since: retrains soon" if state == "stale" else ""
    return (
        f"route '{route.name}': {state}, trained {report.get('trained_at') or '?'} on "
        f"{report['examples']} papers ({report['positives']} accepted){note}; "
        f"likes: {words}"
    )


@model_group.command("eval")
@click.option("--pool", "pool_path", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--list", "list_path", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--config", "config_path", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--route", "route_name", help="The route whose rules and categories apply.")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--train-from", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--retrain-days", type=click.IntRange(1, 366), default=7, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--baseline/--no-baseline", default=True, help="Also replay plain TF-IDF.")
@click.pass_context
def model_eval(
    ctx: click.Context,
    pool_path: Path,
    list_path: Path,
    config_path: Path | None,
    route_name: str | None,
    start: Any,
    end: Any,
    train_from: Any,
    retrain_days: int,
    out: Path | None,
    baseline: bool,
) -> None:
    """Replay history day by day, each day scored by a model trained only on earlier days."""
    from bot.config import load_config
    from bot.taste import TasteParams
    from bot.taste_eval import BASELINE, read_accepted, read_pool, run_eval

    config = load_config(config_path or _settings(ctx).paperbot_config)
    if route_name is None and len(config.routes) > 1:
        raise click.UsageError("there are several routes: choose one with --route")
    route = config.route(route_name) if route_name else config.routes[0]
    records = read_pool(pool_path, route)
    accepted = read_accepted(list_path)
    first, last = start.date(), end.date()
    since: date | None = train_from.date() if train_from else None
    runs = [("model", TasteParams())] + ([("tfidf", BASELINE)] if baseline else [])
    results = {}
    handle = out.open("w", encoding="utf-8") if out is not None else None
    try:
        for name, params in runs:

            def write(item: Scored, name: str = name) -> None:
                if handle is not None:
                    handle.write(json.dumps({"scorer": name, **item.as_dict()}) + "\n")

            results[name] = run_eval(
                records,
                accepted,
                first,
                last,
                params=params,
                policy=route.model,
                retrain_days=retrain_days,
                train_from=since,
                on_line=write,
            )
    finally:
        if handle is not None:
            handle.close()
    click.echo(_eval_table(results))


def _eval_table(results: dict[str, Any]) -> str:
    model = results["model"]
    lines = [
        f"{model.days} listing days, {model.candidates} candidates, {model.accepted} accepted "
        f"({model.skipped_days} days with no acceptance skipped); the rules matched "
        f"{model.volume}",
        f"{'scorer':<8} {'avg prec':>9} {'precision':>10} {'recall':>7}",
        f"{'rules':<8} {'-':>9} {model.rules_precision:>10.3f} {model.rules_recall:>7.3f}",
    ]
    for name, s in results.items():
        lines.append(f"{name:<8} {s.average_precision:>9.3f} {s.precision:>10.3f} {s.recall:>7.3f}")
    lines.append(
        f"suggested (unmatched, over suggest_at): {model.suggested}, "
        f"{model.suggested_accepted} of them accepted"
    )
    lines.append(json.dumps({k: v.as_dict() for k, v in results.items()}))
    return "\n".join(lines)


@model_group.command("suggest")
@click.argument("count", type=click.IntRange(1, 100), default=10)
@click.option("--route", "route_name", help="Only this route (default: every route).")
@click.option("--days", type=click.IntRange(1, 60), default=3, show_default=True)
@click.pass_context
def model_suggest(ctx: click.Context, count: int, route_name: str | None, days: int) -> None:
    """The best papers no rule matched, of the last listing days, with what drove each score."""
    from bot.app import open_store
    from bot.taste_store import TasteStore, best_unmatched, snapshot, unmatched_recent

    settings = _settings(ctx)
    tastes = TasteStore(settings.paperbot_db)
    with open_store(settings) as store:
        for route in _routes(settings, route_name):
            snap = snapshot(store, route)
            model = tastes.model(snap)
            if model is None:
                click.echo(_cold(route, snap.decisions))
                continue
            records = unmatched_recent(store, route, days)
            best = best_unmatched(model, records, count)
            click.echo(f"route '{route.name}': {len(best)} of {len(records)} unmatched papers")
            for item in best:
                click.echo(
                    f"{item.score:.2f}  {item.record.id}  {item.record.title}  (why: {item.why})"
                )


@model_group.command("why")
@click.argument("paper_id")
@click.option("--route", "route_name", help="Only this route (default: every route).")
@click.pass_context
def model_why(ctx: click.Context, paper_id: str, route_name: str | None) -> None:
    """A paper's score, its rank on its listing day, and the words that drove it."""
    from bot.app import open_store
    from bot.taste import fit_label
    from bot.taste_store import TasteStore, fit_of, snapshot

    settings = _settings(ctx)
    tastes = TasteStore(settings.paperbot_db)
    with open_store(settings) as store:
        stored = store.get_paper(paper_id)
        if stored is None:
            raise click.ClickException(f"{paper_id} is not in the database; `add` fetches it")
        for route in _routes(settings, route_name):
            snap = snapshot(store, route)
            model = tastes.model(snap)
            if model is None:
                click.echo(_cold(route, snap.decisions))
                continue
            fit = fit_of(store, route, model, stored)
            parts = ", ".join(f"{w} {c:+.2f}" for w, c in fit.parts)
            click.echo(f"route '{route.name}': {fit_label(fit.score, fit.rank, fit.of)}")
            click.echo(f"  driven by: {parts}")
