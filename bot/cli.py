"""Thin commands over the pipeline. Each one: build settings, do one thing, say what happened.

Any PaperbotError becomes one line on stderr and exit status 1 (2 for bad usage, from click).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click
from tqdm import tqdm

from bot import __version__
from bot.app import open_app, open_ingest, open_store, publisher
from bot.arxiv.ids import parse_arxiv_id
from bot.config import (
    Settings,
    import_keywords,
    load_config,
    load_settings,
    read_keyword_file,
)
from bot.errors import PaperbotError, UsageError
from bot.ingest import NewMatch, PollReport
from bot.models import Outcome, Reply, Route
from bot.papers_command import CATALOGUE, CommandSpec, Parsed, parse_days, parse_paper_id
from bot.publish import import_list
from bot.runner import serve

T = TypeVar("T")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except PaperbotError as exc:
        raise click.ClickException(str(exc)) from exc


class _Group(click.Group):
    """Turns our own errors into one clear line and a non-zero exit, wherever they happen."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PaperbotError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="paperbot")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """paperbot: polls arXiv, matches your team's rules, keeps the curated list."""
    settings = load_settings()
    configure_logging(settings.log_level)
    ctx.obj = settings


# --- polling -------------------------------------------------------------------------------


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the bot: poll now, then on the schedule; post, count votes, publish, until Ctrl-C."""
    _run(serve(_settings(ctx)))


@cli.command()
@click.option("--once", is_flag=True, help="Poll once and exit (without it: poll forever).")
@click.option("--dry-run", is_flag=True, help="Write nothing and post nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.pass_context
def poll(ctx: click.Context, once: bool, dry_run: bool, as_json: bool) -> None:
    """Poll every route's listing feed and print the papers newly matched."""
    settings = _settings(ctx)
    if not once:
        _run(serve(settings))
        return

    async def go() -> PollReport:
        async with open_ingest(settings, dry_run=dry_run) as pipe:
            return await pipe.poll_once()

    report = _run(go())
    _print_matches(report.matches, as_json)
    if report.failed and not report.matches:
        raise click.ClickException("arXiv could not be polled; see the log above")


def _print_matches(matches: list[NewMatch], as_json: bool) -> None:
    if as_json:
        for m in matches:
            paper = m.paper.paper
            record = {
                "id": paper.id,
                "version": paper.version,
                "title": paper.title,
                "url": paper.url,
                "route": m.match.route,
                "listing_date": m.paper.listing_date.isoformat() if m.paper.listing_date else None,
                "reasons": [r.as_dict() for r in m.match.reasons],
            }
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    if not matches:
        click.echo("no new matches")
        return
    for m in matches:
        paper = m.paper.paper
        terms = ", ".join(dict.fromkeys(r.term for r in m.match.reasons))
        title = paper.title if len(paper.title) <= 70 else paper.title[:69] + "…"
        click.echo(f"{paper.id:<12} {m.match.route:<16} {title}  [{terms}]")
    click.echo(f"{len(matches)} new matches")


@cli.command()
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD (default: today)")
@click.option("--route", help="Only this route (default: all).")
@click.pass_context
def backfill(ctx: click.Context, since: Any, until: Any, route: str | None) -> None:
    """Fetch, store and match papers submitted in a date range (never posts). Resumable."""
    settings = _settings(ctx)
    first: date = since.date()
    last: date = until.date() if until else date.today()  # noqa: DTZ011 - a user's calendar day
    if last < first:
        raise click.BadParameter("--until is before --since", param_hint="--until")

    async def go() -> Any:
        with tqdm(unit="paper", desc="backfill", disable=None) as bar:

            def progress(done: int, total: int | None) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            async with open_ingest(settings) as pipe:
                return await pipe.backfill(first, last, route, progress)

    report = _run(go())
    click.echo(
        f"fetched {report.fetched} papers, {report.new_papers} new, "
        f"{len(report.matches)} new matches"
    )


# --- rules -----------------------------------------------------------------------------------


@cli.group()
def rules() -> None:
    """Manage the routes file."""


@rules.command("import-csv")
@click.option("--route", required=True, help="The route to add the keywords to.")
@click.option("--accept", "accept_file", type=click.Path(path_type=Path), help="Accept keywords.")
@click.option("--reject", "reject_file", type=click.Path(path_type=Path), help="Reject keywords.")
@click.pass_context
def import_csv(
    ctx: click.Context, route: str, accept_file: Path | None, reject_file: Path | None
) -> None:
    """Add the old one-keyword-a-line lists to a route, keeping the file's comments."""
    if accept_file is None and reject_file is None:
        raise click.UsageError("give --accept FILE, --reject FILE or both")
    settings = _settings(ctx)
    accept = read_keyword_file(accept_file) if accept_file else []
    reject = read_keyword_file(reject_file) if reject_file else []
    result = import_keywords(settings.paperbot_config, route, accept, reject)
    click.echo(
        f"route '{route}': {len(result.added_accept)} accept and "
        f"{len(result.added_reject)} reject terms added to {settings.paperbot_config}"
    )


# --- the markdown list -----------------------------------------------------------------------


@cli.group("list")
def list_group() -> None:
    """Import, render and publish the markdown paper list."""


def _route(settings: Settings, name: str | None) -> Route:
    config = load_config(settings.paperbot_config)
    if name is not None:
        return config.route(name)
    if len(config.routes) == 1:
        return config.routes[0]
    names = ", ".join(r.name for r in config.routes)
    raise click.UsageError(f"there are several routes ({names}): choose one with --route")


@list_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--route", "route_name", help="The route the list belongs to.")
@click.pass_context
def list_import(ctx: click.Context, path: Path, route_name: str | None) -> None:
    """Record every paper in a list as accepted (by "import"). The file is not changed."""
    settings = _settings(ctx)
    route = _route(settings, route_name)
    text = _read_list(path)
    with open_store(settings) as store:
        report = import_list(store, route.name, text)
    click.echo(
        f"{path}: {report.entries} entries, {report.accepted} newly recorded as accepted "
        f"for route '{route.name}'"
    )
    for pid, lines in report.duplicates.items():
        where = ", ".join(f"line {n}" for n, _ in lines)
        click.echo(f"duplicate {pid} at {where}: {lines[0][1]}")


@list_group.command("render")
@click.option("--route", "route_name", help="The route whose list to render.")
@click.option(
    "--base", type=click.Path(dir_okay=False, path_type=Path), help="Merge into this file."
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout)."
)
@click.pass_context
def list_render(
    ctx: click.Context, route_name: str | None, base: Path | None, out: Path | None
) -> None:
    """Print the list with the accepted papers merged in (defaults: the route's list file)."""
    settings = _settings(ctx)
    route = _route(settings, route_name)
    if base is None and route.list_target is not None:
        candidate = route.list_target.repo / route.list_target.path
        base = candidate if candidate.exists() else None
    text = _read_list(base) if base is not None else None
    with open_store(settings) as store:
        rendered = publisher(settings, store).render(route, text)
    if out is None:
        click.echo(rendered, nl=False)
    else:
        out.write_text(rendered, encoding="utf-8", newline="")


@list_group.command("publish")
@click.option("--route", "route_name", help="Only this route (default: every route with a list).")
@click.pass_context
def list_publish(ctx: click.Context, route_name: str | None) -> None:
    """Merge the accepted papers into the list file, commit, and push when a remote is set."""
    settings = _settings(ctx)
    config = load_config(settings.paperbot_config)
    routes = (
        [config.route(route_name)] if route_name else [r for r in config.routes if r.list_target]
    )
    if not routes:
        raise click.UsageError("no route has a [routes.list] table to publish to")
    with open_store(settings) as store:
        pub = publisher(settings, store)
        for route in routes:
            result = pub.publish(route)
            if not result.changed:
                click.echo(f"{route.name}: the list is up to date")
                continue
            pushed = " and pushed" if result.pushed else ""
            click.echo(
                f"{route.name}: committed {result.commit[:10] if result.commit else ''}{pushed}: "
                f"{len(result.added)} added, {len(result.removed)} removed"
            )
            for pid in result.hand_deleted:
                click.echo(f"{route.name}: {pid} was deleted from the list by hand; now rejected")


def _read_list(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path} is not UTF-8 text; convert it and retry") from exc


# --- curating and asking ------------------------------------------------------------------


def _who(by: str | None) -> str:
    return f"cli:{by or os.environ.get('USER') or 'curator'}"


@cli.command()
@click.argument("paper_id")
@click.option("--by", help="Who decides (default: $USER).")
@click.pass_context
def accept(ctx: click.Context, paper_id: str, by: str | None) -> None:
    """Accept a paper by hand (final; published with the next batch)."""
    _decide(ctx, paper_id, Outcome.ACCEPTED, by)


@cli.command()
@click.argument("paper_id")
@click.option("--by", help="Who decides (default: $USER).")
@click.pass_context
def reject(ctx: click.Context, paper_id: str, by: str | None) -> None:
    """Reject a paper by hand (final; its line leaves the list with the next batch)."""
    _decide(ctx, paper_id, Outcome.REJECTED, by)


def _decide(ctx: click.Context, paper_id: str, status: Outcome, by: str | None) -> None:
    settings = _settings(ctx)
    pid = _paper_id(paper_id)

    async def go() -> str:
        async with open_app(settings, chats={}) as app:
            return await app.decisions.decide_by_hand(pid, status, _who(by))

    click.echo(_run(go()))


def _paper_id(text: str) -> str:
    found = parse_arxiv_id(text)
    if found is None:
        raise click.BadParameter(f"'{text}' is not an arXiv id such as 2503.12228")
    return found[0]


def _paper_id_arg(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return parse_paper_id(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from exc


def _days_arg(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    try:
        return None if value is None else parse_days(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from exc


def _query_command(spec: CommandSpec) -> None:
    """A CLI twin of a `/papers` command, built from the catalogue; arguments stay typed."""
    params: list[click.Parameter] = [
        click.Option(["--route"], help="Only this route (default: all)."),
        click.Option(["--json", "as_json"], is_flag=True, help="One JSON object a line."),
    ]
    if spec.arg == "days":
        params.append(click.Argument(["days"], required=False, callback=_days_arg))
    elif spec.arg == "words":
        params.append(click.Argument(["words"], nargs=-1, required=True))
    elif spec.arg == "id":
        params.append(click.Argument(["paper_id"], callback=_paper_id_arg))

    @click.pass_context
    def command(ctx: click.Context, /, route: str | None, as_json: bool, **args: Any) -> None:
        settings = _settings(ctx)
        parsed = Parsed(
            spec.name,
            days=args.get("days") or spec.default_days,
            words=tuple(args.get("words") or ()),
            paper_id=args.get("paper_id"),
        )
        config = load_config(settings.paperbot_config)
        routes = [config.route(route).name] if route else [r.name for r in config.routes]

        async def ask() -> Reply:
            async with open_app(settings, chats={}) as app:
                return await app.commands.run_parsed(parsed, routes, _who(None))

        reply = _run(ask())
        _print_reply(reply, as_json)
        if not reply.ok:
            ctx.exit(2)

    cli.add_command(click.Command(spec.name, callback=command, params=params, help=spec.help))


def _print_reply(reply: Reply, as_json: bool) -> None:
    if not as_json:
        click.echo(reply.as_text(), err=not reply.ok)
        return
    if not reply.items:
        click.echo(json.dumps({"text": reply.text, "ok": reply.ok}, ensure_ascii=False))
    for item in reply.items:
        record = {"id": item.paper_id, "title": item.title, "url": item.url, "detail": item.detail}
        click.echo(json.dumps(record, ensure_ascii=False))


for _spec in CATALOGUE:
    if _spec.name != "help":
        _query_command(_spec)


@cli.group("discord")
def discord_group() -> None:
    """Discord set-up."""


@discord_group.command("invite")
@click.option(
    "--application-id",
    type=int,
    default=None,
    help="The application's id (default: DISCORD_APPLICATION_ID, else read with DISCORD_TOKEN).",
)
@click.pass_context
def discord_invite(ctx: click.Context, application_id: int | None) -> None:
    """Print the link that adds the bot to a server, with exactly the permissions it uses."""
    from bot.chat.discord import fetch_application_id, invite_url  # discord.py only when asked

    settings = _settings(ctx)
    click.echo(invite_url(application_id or _run(fetch_application_id(settings))))


@cli.group()
def db() -> None:
    """Database chores."""


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def db_backup(ctx: click.Context, path: Path) -> None:
    """Copy the database safely, even while the bot runs (SQLite's online backup)."""
    settings = _settings(ctx)
    if path.exists():
        raise click.BadParameter(f"{path} exists; choose a new file", param_hint="PATH")
    with open_store(settings) as store:
        store.backup(path)
    click.echo(f"backed up {settings.paperbot_db} to {path}")


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="paperbot")
    except KeyboardInterrupt:  # Ctrl-C outside the event loop: leave quietly
        sys.exit(130)
