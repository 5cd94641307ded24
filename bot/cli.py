"""Thin commands over the pipeline. Each one: build settings, do one thing, say what happened.

Any PaperbotError becomes one line on stderr and exit status 1 (2 for bad usage, from click).
"""

from __future__ import annotations

import asyncio
import errno
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bot import __version__
from bot.arxiv.ids import parse_arxiv_id
from bot.errors import PaperbotError, UsageError
from bot.models import Outcome, Parsed
from bot.papers_command import (
    CATALOGUE,
    ChatState,
    CommandSpec,
    StatusInfo,
    parse_days,
    parse_paper_id,
)


def _lazy(module: str, name: str) -> Any:
    """`name` from `module`, imported on first call: each command imports only what it uses."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


if TYPE_CHECKING:
    from tqdm import tqdm

    from bot.app import open_app, open_ingest, open_store, publisher
    from bot.config import import_keywords, load_config, read_keyword_file
    from bot.ingest import BackfillReport, NewMatch, PollReport
    from bot.models import Route
    from bot.papers_command import Answer
    from bot.publish import import_list
    from bot.runner import serve
    from bot.settings import Settings
    from storage.store import Store
else:
    tqdm = _lazy("tqdm", "tqdm")
    open_app = _lazy("bot.app", "open_app")
    open_ingest = _lazy("bot.app", "open_ingest")
    open_store = _lazy("bot.app", "open_store")
    publisher = _lazy("bot.app", "publisher")
    import_keywords = _lazy("bot.config", "import_keywords")
    load_config = _lazy("bot.config", "load_config")
    read_keyword_file = _lazy("bot.config", "read_keyword_file")
    import_list = _lazy("bot.publish", "import_list")
    serve = _lazy("bot.runner", "serve")

T = TypeVar("T")


# Known third-party warnings about features paperbot never uses, dropped where they are
# logged: (logger, the start of the message).
QUIET = (
    ("slack_bolt", "As you gave `client` as well, `token` will be unused"),
    ("discord.client", "PyNaCl is not installed, voice will NOT be supported"),
    ("discord.client", "davey is not installed, voice will NOT be supported"),
)


class _JsonLines(logging.Formatter):
    """LOG_FORMAT=json: one JSON object a line (time, level, logger, message[, exception])."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    if logging.getLevelName(level) > logging.DEBUG:  # "Job ... executed successfully", each run
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    handler.addFilter(_Quiet())


class _Quiet(logging.Filter):
    """Drops the QUIET warnings (from their loggers and the loggers below them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(
            (record.name == name or record.name.startswith(name + "."))
            and record.getMessage().startswith(start)
            for name, start in QUIET
        )


NO_SETTINGS = ("init",)  # commands that work before any settings exist


def _settings(ctx: click.Context) -> Settings:
    """The settings read at start; a bad .env is reported here, by the command that needs
    them, so `--help` works whatever .env holds."""
    settings = ctx.find_root().obj
    if settings is None:
        error = ctx.meta.get("paperbot.settings_error")
        raise error if isinstance(error, PaperbotError) else click.UsageError("no settings")
    return settings  # type: ignore[no-any-return]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except PaperbotError as exc:
        raise click.ClickException(str(exc)) from exc


# Command groups kept in their own modules, imported only when used: name -> module:attr.
LAZY_COMMANDS = {"model": "bot.cli_model:model_group", "site": "bot.cli_site:site_group"}


class _Group(click.Group):
    """Turns our own errors into one clear line and a non-zero exit, wherever they happen."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PaperbotError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:  # a full disk, a missing program, a file that cannot be read
            raise click.ClickException(_os_error(exc)) from exc
        except Exception as exc:
            if not _is_database_error(exc):
                raise  # a bug: its traceback is what a report needs
            db = getattr(ctx.obj, "paperbot_db", None) or "the database"
            raise click.ClickException(
                f"{db} failed ({exc}); check that its disk has free space and is healthy, "
                "and that the file is writable, then retry"
            ) from exc


def _os_error(exc: OSError) -> str:
    """One sentence for an OSError that escaped the code meant to explain it."""
    what = exc.strerror or str(exc)
    name = exc.filename
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"the disk is full writing {name or 'a file'} ({what}); free space and retry"
    if isinstance(exc, FileNotFoundError) and name and os.sep not in str(name):
        return f"cannot run {name}: it is not installed or not on PATH; install it and retry"
    if name:
        return f"{name}: {what}; check that it exists and its permissions, then retry"
    return f"{what}; check the files and folders paperbot uses, then retry"


def _is_database_error(exc: BaseException) -> bool:
    """sqlite3.Error that storage/ did not turn into a StorageError (only storage/ imports it)."""
    return any(c.__module__ == "sqlite3" for c in type(exc).__mro__)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="paperbot")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """paperbot: polls arXiv, matches your team's rules, keeps the curated list."""
    from bot.settings import load_settings

    ctx.obj = None
    if ctx.invoked_subcommand in NO_SETTINGS:
        return
    try:
        settings = load_settings()
    except PaperbotError as exc:  # said by the command that needs settings; --help still works
        ctx.meta["paperbot.settings_error"] = exc
        return
    configure_logging(settings.log_level, settings.log_format)
    ctx.obj = settings


# --- polling -------------------------------------------------------------------------------


@cli.command()
@click.argument(
    "folder", default=".", type=click.Path(file_okay=False, path_type=Path), required=False
)
def init(folder: Path) -> None:
    """Write a commented paperbot.toml and .env into FOLDER (default: here); never overwrites."""
    from importlib.resources import files

    data = files("bot") / "data"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot create {folder}: {exc.strerror}") from exc
    for source, name in (("paperbot.example.toml", "paperbot.toml"), ("env.example", ".env")):
        target = folder / name
        if target.exists():
            click.echo(f"{target} exists; left as it is")
            continue
        target.write_text(data.joinpath(source).read_text(encoding="utf-8"), encoding="utf-8")
        click.echo(f"wrote {target}")
    where = "" if folder == Path(".") else f"cd {folder} && "
    click.echo(f"next: edit the routes in paperbot.toml, then {where}paperbot run")


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
    if not once and (dry_run or as_json):
        flag = "--dry-run" if dry_run else "--json"
        raise click.UsageError(f"{flag} applies to one poll only: add --once")
    settings = _settings(ctx)
    if not once:
        _run(serve(settings))
        return

    async def go() -> PollReport:
        async with open_ingest(settings, dry_run=dry_run, one_shot=True) as pipe:
            return await pipe.poll_once()

    report = _run(go())
    failed = [run for run in report.runs if run.status == "error"]
    if report.matches or not failed:
        _print_matches(report.matches, as_json)
    if failed:
        raise click.ClickException(f"arXiv could not be polled: {failed[0].error}")


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

    stopped: list[signal.Signals] = []
    done = [0]

    async def go() -> BackfillReport:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def stop(sig: signal.Signals) -> None:  # cancel at the next await, then say so
            stopped.append(sig)
            task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop, sig)
        with tqdm(unit="paper", desc="backfill", disable=None) as bar:

            def progress(count: int, total: int | None) -> None:
                done[0] = count
                bar.total = total
                bar.n = count
                bar.refresh()

            async with open_ingest(settings, one_shot=True) as pipe:
                return await pipe.backfill(first, last, route, progress)

    try:
        report = _run(go())
    except asyncio.CancelledError:
        if not stopped:
            raise
        click.echo(
            f"backfill stopped by {stopped[0].name} after {done[0]} papers, each one stored; "
            "run the same command again to resume from there",
            err=True,
        )
        ctx.exit(128 + stopped[0].value)  # 130 for SIGINT, 143 for SIGTERM
    parts = (
        f" (more than {settings.arxiv_query_limit} results a query: "
        f"fetched in {report.splits + 1} date ranges)"
        if report.splits
        else ""
    )
    click.echo(
        f"fetched {report.fetched} papers, {report.new_papers} new, "
        f"{len(report.matches)} new matches{parts}"
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
    """Record every paper in a list as accepted (by "import"); publishing then writes the list."""
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
            for pid in result.hand_deleted:
                click.echo(f"{route.name}: {pid} was deleted from the list by hand; now rejected")
            for pid in result.hand_added:
                click.echo(f"{route.name}: {pid} was added to the list by hand; now accepted")
            if not result.changed:
                click.echo(f"{route.name}: the list is up to date")
                continue
            pushed = " and pushed" if result.pushed else ""
            click.echo(
                f"{route.name}: committed {result.commit[:10] if result.commit else ''}{pushed}: "
                f"{len(result.added)} added, {len(result.removed)} removed"
            )


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


LISTS = ("recent", "search", "accepted", "rejected", "pending")


def _query_command(spec: CommandSpec) -> None:
    """A CLI twin of a `/papers` command, built from the catalogue; arguments stay typed."""
    params: list[click.Parameter] = [
        click.Option(["--route"], help="Only this route (default: all)."),
        click.Option(["--json", "as_json"], is_flag=True, help="One JSON object (docs/cli.md)."),
    ]
    if spec.name in LISTS:
        params += [
            click.Option(
                ["--limit"],
                type=click.IntRange(min=1),
                help="Show at most N papers (default 20 for search, else 50).",
            ),
            click.Option(["--all", "show_all"], is_flag=True, help="Show every paper."),
        ]
    if spec.name == "search":
        params.append(
            click.Option(
                ["--sort"],
                type=click.Choice(["relevance", "newest"]),
                default="relevance",
                show_default=True,
                help="Best match (weighed by age) or newest first.",
            )
        )
    if spec.name == "status":
        params.append(
            click.Option(
                ["--check"],
                is_flag=True,
                help="One line; exit 0 healthy, 1 degraded, 2 down (for health checks).",
            )
        )
    if spec.arg == "days":
        params.append(click.Argument(["days"], required=False, callback=_days_arg))
    elif spec.arg == "words":
        params.append(click.Argument(["words"], nargs=-1, required=True))
    elif spec.arg == "id":
        params.append(click.Argument(["paper_id"], callback=_paper_id_arg))
    elif spec.arg == "count":
        params.append(click.Argument(["count"], required=False, type=click.IntRange(1, 50)))

    @click.pass_context
    def command(ctx: click.Context, /, route: str | None, as_json: bool, **args: Any) -> None:
        if args.get("show_all") and args.get("limit"):
            raise click.UsageError("give --limit N or --all, not both")
        settings = _settings(ctx)
        parsed = Parsed(
            spec.name,
            days=args.get("days") or spec.default_days,
            words=tuple(args.get("words") or ()),
            paper_id=args.get("paper_id"),
            limit=None if args.get("show_all") else args.get("limit") or args.get("count") or -1,
            sort=args.get("sort") or "relevance",
            scoped=route is not None,
        )
        answer = _answer(settings, parsed, route)
        if args.get("check"):
            record = answer.record
            click.echo(f"{record['health']}: {record['why']}")
            ctx.exit({"healthy": 0, "degraded": 1}.get(str(record["health"]), 2))
        if as_json:
            click.echo(json.dumps(answer.record, ensure_ascii=False))
        else:
            click.echo(answer.reply.as_text(), err=not answer.reply.ok)
        if not answer.reply.ok:
            ctx.exit(2)

    cli.add_command(click.Command(spec.name, callback=command, params=params, help=spec.help))


TASTE_COMMANDS = ("why", "suggest")  # the commands that use the routes' learnt taste


def _answer(settings: Settings, parsed: Parsed, route: str | None) -> Answer:
    """Answer a query from the database alone (`add` also opens arXiv)."""
    from bot.clock import system_clock
    from bot.config import load_config

    config = load_config(settings.paperbot_config)
    routes = [config.route(route).name] if route else [r.name for r in config.routes]
    if parsed.name == "add":

        async def add() -> Answer:
            async with open_app(settings, chats={}) as app:
                return await app.commands.run_full(parsed, routes, _who(None))

        return _run(add())
    from bot.papers_command import PapersCommand
    from storage.store import Store

    store = Store.open(settings.paperbot_db, system_clock)
    try:
        info = _status_info(settings, store, config.routes) if parsed.name == "status" else None
        taste = None
        if parsed.name in TASTE_COMMANDS:  # bot.app (and the models) only where they are used
            from bot.app import taste_for

            taste = taste_for(store, lambda: config.routes, system_clock)
        commands = PapersCommand(
            store, system_clock, status=lambda: info or StatusInfo(), taste=taste
        )
        return commands.answer_full(parsed, routes)
    finally:
        store.close()


def _status_info(settings: Settings, store: Store, routes: Sequence[Route]) -> StatusInfo:
    """What only the CLI can see: whether a run holds the database, and the chats' tokens."""
    pid, running = _run_holder(settings.paperbot_db)
    tokens = {"slack": settings.slack_bot_token, "discord": settings.discord_token}
    chats = []
    for platform, token in tokens.items():
        channels = tuple(
            (f"{platform}:{channel}", r.name)
            for r in routes
            if (channel := getattr(r, f"{platform}_channel", None))
        )
        if token is not None or channels:
            chats.append(ChatState(platform, token is not None, channels))
    unpublished = tuple(r.name for r in routes if store.unpublished_mark(r.name))
    next_poll = store.next_poll()
    if next_poll is not None:
        from zoneinfo import ZoneInfo

        next_poll = next_poll.astimezone(ZoneInfo(settings.paperbot_poll_timezone))
    return StatusInfo(next_poll, unpublished, running, pid, tuple(chats))


def _run_holder(db: Path) -> tuple[int | None, bool]:
    """(pid, True) when a `paperbot run` holds the run lock beside the database (runner.py)."""
    import fcntl

    try:
        fd = os.open(db.with_name(db.name + ".run.lock"), os.O_RDONLY)
    except OSError:
        return None, False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return (int(text) if text.isdigit() else None), True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None, False
    finally:
        os.close(fd)


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


@discord_group.command("sync")
@click.pass_context
def discord_sync(ctx: click.Context) -> None:
    """Register /papers with Discord now (`run` does it only when the commands changed)."""
    from bot.chat.discord import sync_commands

    _run(sync_commands(_settings(ctx)))
    click.echo("/papers registered with Discord")


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
