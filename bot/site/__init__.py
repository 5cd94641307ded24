"""A route's static site: index.html, feed.xml, papers.json and papers.bib (docs/site.md).

`render_site` turns papers into files and touches nothing; `site_papers` reads them from the
store; `write_site` puts files in a folder, keeping a manifest so only its own are replaced.
"""

from bot.site.data import site_papers
from bot.site.render import SitePaper, render_site, site_settings
from bot.site.writer import MANIFEST, write_site

__all__ = ["MANIFEST", "SitePaper", "render_site", "site_papers", "site_settings", "write_site"]
