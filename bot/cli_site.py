"""`paperbot site render` and `paperbot site serve`: build a route's static site by hand, or
look at it on 127.0.0.1. Publishing builds it too, in the list's commit (docs/site.md)."""

from __future__ import annotations

import functools
import http.server
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click

from bot.app import open_store
from bot.config import load_config
from bot.models import Route
from bot.settings import Settings
from bot.site import render_site, site_papers, site_settings, write_site


@click.group("site")
def site_group() -> None:
    """Build a route's static site (page, Atom feed, JSON, BibTeX), or serve it locally."""


def _route(ctx: click.Context, name: str | None) -> Route:
    settings = ctx.find_object(Settings)
    assert settings is not None
    config = load_config(settings.paperbot_config)
    if name is not None:
        return config.route(name)
    with_site = [r for r in config.routes if r.site is not None]
    if len(with_site) == 1:
        return with_site[0]
    if len(config.routes) == 1:
        return config.routes[0]
    names = ", ".join(r.name for r in config.routes)
    raise click.UsageError(f"there are several routes ({names}): choose one with --route")


def build(ctx: click.Context, route: Route, out: Path) -> dict[str, bytes]:
    """Render the route's site from the database (and its list file, if any) into `out`."""
    settings = ctx.find_object(Settings)
    assert settings is not None
    text = None
    if route.list_target is not None:
        file = route.list_target.repo / route.list_target.path
        if file.is_file():
            text = file.read_text(encoding="utf-8")
    with open_store(settings) as store:
        papers = site_papers(store, route, text)
    return write_site(out, render_site(papers, route, datetime.now(UTC)))


@site_group.command("render")
@click.option("--route", "route_name", help="The route whose site to build.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write here (default: [routes.site] path in the list's work tree).",
)
@click.pass_context
def site_render(ctx: click.Context, route_name: str | None, out: Path | None) -> None:
    """Build the site into a folder; files paperbot did not generate are left alone."""
    route = _route(ctx, route_name)
    if out is None:
        if route.site is None or route.list_target is None:
            raise click.UsageError(
                f"route '{route.name}' has no [routes.site] table: add one or pass --out DIR"
            )
        out = route.list_target.repo / route.site.path
    files = build(ctx, route, out)
    click.echo(f"{route.name}: {len(files)} files in {out} ({site_settings(route).title})")


@site_group.command("serve")
@click.option("--route", "route_name", help="The route whose site to serve.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.pass_context
def site_serve(ctx: click.Context, route_name: str | None, port: int) -> None:
    """Build the site into a temporary folder and serve it on 127.0.0.1 until Ctrl-C."""
    route = _route(ctx, route_name)
    with tempfile.TemporaryDirectory(prefix="paperbot-site-") as tmp:
        build(ctx, route, Path(tmp))
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp)
        with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
            click.echo(
                f"serving {route.name} at http://127.0.0.1:{server.server_port}/ (Ctrl-C stops)"
            )
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                click.echo("stopped")
