"""The curated markdown paper list: read it, and merge papers into it without disturbing a byte.

Format and merge rules: docs/list-format.md. Ids are validated by bot.arxiv.ids; a line whose
link is not a valid arXiv id is opaque text, kept byte for byte. Parsing never raises.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from bot.arxiv.ids import base_id, parse_arxiv_id, valid_new_id
from bot.errors import ListFormatError

__all__ = [
    "WARNING",
    "Entry",
    "ListedEntry",
    "NewEntry",
    "PaperList",
    "Section",
    "Style",
    "base_id",
    "entry_line",
    "escape_title",
    "find_duplicates",
    "ids_in",
    "iter_entries",
    "merge",
    "normalize_title",
    "parse",
    "parse_ref",
    "refresh_badges",
    "render_entry",
    "style_of",
    "unescape_title",
]

WARNING = "The paper list will be updated automatically, please do not edit."
ABS_URL = "https://arxiv.org/abs/"

# --- arXiv references -------------------------------------------------------------------------


def parse_ref(ref: str, *, bare: bool = True) -> tuple[str, int | None] | None:
    """The base id and version (None when absent) of an arXiv id or link; None if it is neither.

    The answer is :func:`bot.arxiv.ids.parse_arxiv_id`'s; a markdown link target may also be
    wrapped in ``<>``. ``bare=False`` accepts only links and ``arXiv:``/``oai:`` references.
    """
    ref = ref.strip(" \t")
    if ref.startswith("<") and ref.endswith(">"):
        ref = ref[1:-1]
    return parse_arxiv_id(ref, bare=bare)


def _require_id(ref: str) -> str:
    found = parse_ref(ref)
    if found is None:
        raise ListFormatError(f"{ref!r} is not an arXiv id or link; pass one like 2503.12228.")
    return found[0]


# --- titles -----------------------------------------------------------------------------------

# Backslash-escaped in titles: what could end the link (``\\ [ ]``) and what could be read as
# markup by a renderer (``< > &``: raw HTML, autolinks such as ``<https://...>``, entities).
_ESCAPED = "\\[]<>&"
_ESCAPE_TABLE = str.maketrans({c: "\\" + c for c in _ESCAPED})
_UNESCAPE_RE = re.compile(r"\\([\\\[\]<>&])")


def normalize_title(title: str) -> str:
    """A title as the list keeps it: whitespace runs (line breaks too) made one space, trimmed.

    This is what :func:`parse` gives back for a line written by :func:`entry_line`; in the file
    the title is further escaped by :func:`escape_title`.
    """
    return " ".join(title.split())


def escape_title(title: str) -> str:
    """Backslash-escape ``\\ [ ] < > &``: the title cannot end the link early, and ``<script>``,
    ``<https://...>`` or ``&lt;`` stay plain text when the list is rendered (still readable)."""
    return title.translate(_ESCAPE_TABLE)


def unescape_title(title: str) -> str:
    """Undo :func:`escape_title` (other backslashes are left alone)."""
    return _UNESCAPE_RE.sub(r"\1", title) if "\\" in title else title


def entry_line(paper_id: str, title: str) -> str:
    """``* [Title](https://arxiv.org/abs/BASE_ID)``, without a line ending.

    Raises ListFormatError when ``paper_id`` is not an arXiv id or link.
    """
    return f"* [{escape_title(normalize_title(title))}]({ABS_URL}{_require_id(paper_id)})"


# --- parsed model -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A paper to merge into the list: its id (any arXiv form), title and section date, and
    what the list may show of it (tags, TL;DR, version; ``markup``: the title as a list wrote
    it, kept verbatim)."""

    id: str
    title: str
    date: dt.date
    tags: tuple[str, ...] = ()
    tldr: str | None = None
    version: int | None = None
    markup: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry line as found in the text."""

    id: str  # base id
    title: str  # unescaped, otherwise as written
    date: dt.date | None  # the section's date; None in the header or an undated section
    line: int  # 1-based line number
    text: str  # the exact line, line ending included
    tags: tuple[str, ...] = ()
    tldr: str | None = None
    version: int | None = None
    notes: tuple[str, ...] = ()  # exact text of the note lines that follow it
    markup: str = ""  # the title as written, escapes included


@dataclass(frozen=True, slots=True)
class Section:
    """A ``###`` heading and the lines up to the next one."""

    heading: str  # the exact heading line
    date: dt.date | None  # None when the heading is not a date
    line: int  # 1-based line of the heading
    last_line: int  # 1-based last line of the section (trailing blank lines included)
    entries: tuple[Entry, ...]


class ListedEntry(NamedTuple):
    """What importing a list needs of one entry."""

    id: str
    title: str
    date: dt.date | None
    line: int


@dataclass(frozen=True, slots=True)
class PaperList:
    """A parsed list. ``lines`` joined give the text back exactly."""

    lines: tuple[str, ...]
    header_lines: int  # how many lines come before the first ``###`` heading
    sections: tuple[Section, ...]
    entries: tuple[Entry, ...]  # every entry in file order (header entries too)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    @property
    def header(self) -> str:
        return "".join(self.lines[: self.header_lines])

    def ids(self) -> list[str]:
        return [e.id for e in self.entries]

    def duplicates(self) -> dict[str, tuple[Entry, ...]]:
        """Ids carried by more than one entry, each with its entries, in order of first sight."""
        seen: dict[str, list[Entry]] = {}
        for entry in self.entries:
            seen.setdefault(entry.id, []).append(entry)
        return {pid: tuple(found) for pid, found in seen.items() if len(found) > 1}


# --- scanning ---------------------------------------------------------------------------------

# One pattern classifies a line as a heading, a note or an entry (anything else is opaque). It
# runs over "\n" + text, each match starting at the line break before its line, so the regex
# engine hops from line break to line break in C and Python only sees the lines that matter.
_LINE_RE = re.compile(
    r"""
    \n(?:
        (?P<heading>\#\#\#(?:[ \t]+(?P<htext>[^\n]*?))?[ \t]*\r?(?=\n|\Z))
      | (?P<note>(?:[ \t]+>|[ \t]*>[ \t]*\*\*TL;DR)[^\n]*)
      | (?P<entry>
            [ \t]*[*+-][ \t]+
            (?P<tags>(?:`[^`\n]*`[ \t]*)*)
            \[
            (?:
                (?P<title>[^\\\]\n]*(?:\\.[^\\\]\n]*)*)  # escaped: \\ \[ \] never end it
              | (?P<loose>[^\n]*?)  # older tools did not escape: up to the first ](
            )
            \]\([ \t]*
            (?P<url>
                https?://(?:www\.)?arxiv\.org/(?:abs|pdf)/(?P<nid>[0-9]{4}\.[0-9]{4,5})
                (?:v[0-9]+)?(?:\.pdf)?(?![^()\s])  # the common forms, read without parse_ref
              | [^()\s]*
            )
            [ \t]*\)[^\n]*
        )
    )
    """,
    re.VERBOSE,
)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TAG_RE = re.compile(r"`([^`]*)`")
_TLDR_RE = re.compile(r"[ \t]*>[ \t]*\*\*TL;DR:?\*\*:?[ \t]*(?P<text>.*)", re.DOTALL)


def _split(text: str) -> list[str]:
    """Lines with their endings; only ``\\n`` ends a line (unlike str.splitlines)."""
    parts = text.split("\n")
    last = parts.pop()
    lines = [part + "\n" for part in parts]
    if last:
        lines.append(last)
    return lines


def _content(line: str) -> str:
    if line.endswith("\n"):
        line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
    return line


def _heading_date(text: str | None) -> dt.date | None:
    if text is None or _DATE_RE.fullmatch(text) is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _link_id(url: str) -> str | None:
    ref = parse_ref(url, bare=False)
    return ref[0] if ref is not None else None


class _Section:
    """A section as the scanner sees it, in offsets into the text."""

    __slots__ = ("body", "count", "date", "first", "start", "stop")

    def __init__(self, start: int, body: int, date: dt.date | None, first: int) -> None:
        self.start = start  # offset of the heading line
        self.body = body  # offset of the line after the heading
        self.stop = body  # offset of the next heading, or the text's length
        self.date = date
        self.first = first  # index of its first entry in _Scan's lists
        self.count = 0  # how many entries it has


@dataclass(slots=True)
class _Scan:
    """Every entry (parallel lists, file order) and section of a text, found in one pass."""

    text: str
    ids: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # offset of the entry line
    stops: list[int] = field(default_factory=list)  # offset past its last line (notes too)
    matches: list[re.Match[str]] = field(default_factory=list)  # only when kept
    sections: list[_Section] = field(default_factory=list)


def _scan(text: str, *, keep_matches: bool = False) -> _Scan:
    """Find every section and entry in one pass (``keep_matches`` for parse: titles, tags)."""
    scan = _Scan(text)
    add_id, add_start, add_stop = scan.ids.append, scan.starts.append, scan.stops.append
    stops, sections = scan.stops, scan.sections
    add_match = scan.matches.append if keep_matches else None
    section: _Section | None = None
    last_stop = -1  # where the last entry (or its last note) ends; -1 when no note may follow
    # In "\n" + text a match starts at the line break before its line, which is the line's own
    # offset in text, and ends at the line's own line break: the line stops right after it.
    # (Only a last line without a break ends past the text; that is clamped below.)
    for m in _LINE_RE.finditer("\n" + text):
        kind = m.lastgroup
        if kind == "entry":
            nid = m["nid"]
            pid = nid if nid is not None and valid_new_id(nid) else _link_id(m["url"])
            if pid is None:  # a list item whose first link is not arXiv: an opaque line
                last_stop = -1
                continue
            start, last_stop = m.span()
            add_id(pid)
            add_start(start)
            add_stop(last_stop)
            if add_match is not None:
                add_match(m)
        elif kind == "note":
            start, stop = m.span()
            if start == last_stop:
                stops[-1] = last_stop = stop
            else:
                last_stop = -1
        else:
            start, stop = m.span()
            if section is not None:
                section.stop = start
                section.count = len(stops) - section.first
            section = _Section(start, min(stop, len(text)), _heading_date(m["htext"]), len(stops))
            sections.append(section)
            last_stop = -1
    if stops and stops[-1] > len(text):
        stops[-1] = len(text)
    if section is not None:
        section.stop = len(text)
        section.count = len(stops) - section.first
    return scan


# --- parsing ----------------------------------------------------------------------------------


class _LineCounter:
    """1-based line numbers of offsets asked in increasing order, counting each break once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.offset = 0
        self.line = 1

    def __call__(self, offset: int) -> int:
        self.line += self.text.count("\n", self.offset, offset)
        self.offset = offset
        return self.line


def _entry(scan: _Scan, index: int, date: dt.date | None, line: int) -> Entry:
    text, m = scan.text, scan.matches[index]
    start, stop = scan.starts[index], scan.stops[index]
    end = text.find("\n", start, stop) + 1 or stop
    notes = tuple(_split(text[end:stop]))
    tldr = None
    for note in notes:
        found = _TLDR_RE.match(_content(note))
        if found is not None:
            tldr = found["text"].strip()
            break
    ref = parse_ref(m["url"], bare=False)
    title = m["title"] if m["title"] is not None else m["loose"]
    return Entry(
        id=scan.ids[index],
        title=unescape_title(title),
        date=date,
        line=line,
        text=text[start:end],
        tags=tuple(_TAG_RE.findall(m["tags"])),
        tldr=tldr,
        version=ref[1] if ref is not None else None,
        notes=notes,
        markup=title,
    )


def parse(text: str) -> PaperList:
    """Read a list into header, sections and entries. Never raises; ``.text`` gives it back."""
    scan = _scan(text, keep_matches=True)
    line_of = _LineCounter(text)
    header_count = scan.sections[0].first if scan.sections else len(scan.ids)
    entries = [_entry(scan, i, None, line_of(scan.starts[i])) for i in range(header_count)]
    sections = []
    for raw in scan.sections:
        heading_line = line_of(raw.start)
        own = [
            _entry(scan, i, raw.date, line_of(scan.starts[i]))
            for i in range(raw.first, raw.first + raw.count)
        ]
        entries += own
        sections.append(
            Section(
                heading=text[raw.start : raw.body],
                date=raw.date,
                line=heading_line,
                last_line=line_of(raw.stop - 1),
                entries=tuple(own),
            )
        )
    lines = tuple(_split(text))
    header_lines = text.count("\n", 0, scan.sections[0].start) if scan.sections else len(lines)
    return PaperList(lines, header_lines, tuple(sections), tuple(entries))


def _as_list(source: str | PaperList) -> PaperList:
    return source if isinstance(source, PaperList) else parse(source)


def ids_in(source: str | PaperList) -> list[str]:
    """Base ids of every entry in file order, duplicates kept."""
    if isinstance(source, PaperList):
        return source.ids()
    return _scan(source).ids


def iter_entries(source: str | PaperList) -> Iterator[ListedEntry]:
    """(id, title, section date, 1-based line number) of every entry, in file order."""
    for entry in _as_list(source).entries:
        yield ListedEntry(entry.id, entry.title, entry.date, entry.line)


def find_duplicates(source: str | PaperList) -> dict[str, tuple[Entry, ...]]:
    """Ids carried by more than one entry, each with its entries (line numbers and text)."""
    return _as_list(source).duplicates()


# --- style: how a list writes its entries ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Style:
    """How new lines are written, learnt from the list's newest entries (:func:`style_of`)."""

    bullet: str = "* "  # what comes before the tags and the title
    https: bool = True
    versioned: bool = False  # links end in vN
    note: str = "  > **TL;DR**: "  # what comes before a TL;DR
    after_heading: int = 1  # blank lines between a heading and its entries
    gap: int = 2  # blank lines ending a section that another follows
    lead: int = 1  # blank lines between the header and the first section


_BULLET_RE = re.compile(r"[ \t]*[*+-][ \t]+")
_VERSION_RE = re.compile(r"v[0-9]+(?:\.pdf)?$")


def style_of(source: str | PaperList) -> Style:
    """The style of a list: taken from its newest dated section (defaults where it shows none)."""
    return _style(_scan(source.text if isinstance(source, PaperList) else source))


def _blanks_from(text: str, offset: int) -> int:
    """How many blank lines start at ``offset``."""
    count = 0
    while _blank_at(text, offset):
        offset = _line_stop(text, offset)
        count += 1
    return count


def _blanks_before(text: str, offset: int) -> int:
    """How many blank lines end right before ``offset`` (the start of a line)."""
    count = 0
    while offset > 0:
        start = text.rfind("\n", 0, offset - 1) + 1
        if not text[start:offset].isspace():
            break
        count += 1
        offset = start
    return count


def _newest(sections: list[_Section], count: int = 1) -> list[_Section]:
    return sorted(sections, key=lambda s: s.date or dt.date.min, reverse=True)[:count]


def _style(scan: _Scan) -> Style:
    """The blank-line shape is paperbot's (blank after the heading, two after a section) unless
    the newest section has its entries right under the heading: then sections end with as many
    blank lines as most of the five newest do."""
    text, default = scan.text, Style()
    lead = _blanks_before(text, scan.sections[0].start) if scan.sections else default.lead
    dated = [s for s in scan.sections if s.date is not None]
    with_entries = [s for s in dated if s.count]
    if not with_entries:
        return Style(lead=lead)
    (newest,) = _newest(with_entries)
    after_heading = min(_blanks_from(text, newest.body), 1)
    gap = default.gap
    if not after_heading:
        gaps = [_blanks_before(text, s.stop) for s in _newest(dated, 5) if s.stop < len(text)]
        gap = max(set(gaps), key=gaps.count) if gaps else 1
    last = newest.first + newest.count - 1  # the newest entry: a section grows at its end
    line = text[scan.starts[last] : _line_stop(text, scan.starts[last])]
    m = _LINE_RE.match("\n" + line)
    bullet = _BULLET_RE.match(line)
    url = m["url"] if m is not None else ""
    note = default.note
    for i in range(last, newest.first - 1, -1):
        end = _line_stop(text, scan.starts[i])
        for note_line in _split(text[end : scan.stops[i]]):
            found = _TLDR_RE.match(_content(note_line))
            if found is not None:
                note = _content(note_line)[: found.start("text")]
                break
        else:
            continue
        break
    return Style(
        bullet=bullet.group() if bullet is not None else default.bullet,
        https=not url.startswith("http://"),
        versioned=_VERSION_RE.search(url) is not None,
        note=note,
        after_heading=after_heading,
        gap=gap,
        lead=lead,
    )


def render_entry(entry: NewEntry, style: Style = Style(), pid: str | None = None) -> list[str]:
    """An entry's lines (no line endings) in a list's style: tags, title, link, TL;DR.

    Raises ListFormatError when the entry's id is not an arXiv id or link.
    """
    pid = pid if pid is not None else _require_id(entry.id)
    title = entry.markup if entry.markup is not None else escape_title(normalize_title(entry.title))
    tags = "".join(f"`{tag.replace('`', '')}` " for tag in entry.tags if tag.strip("` "))
    link = f"{'https' if style.https else 'http'}://arxiv.org/abs/{pid}"
    if style.versioned:
        given = parse_ref(entry.id)
        link += f"v{entry.version or (given[1] if given else None) or 1}"
    lines = [f"{style.bullet}{tags}[{title}]({link})"]
    if entry.tldr and entry.tldr.strip():
        lines.append(style.note + normalize_title(entry.tldr))
    return lines


_BADGE_RES = (
    re.compile(r"(shields\.io/badge/total_papers-)([0-9]+)(-)"),
    re.compile(r"(shields\.io/badge/update-)([0-9]{4}\.[0-9]{2}\.[0-9]{2})(-)"),
)


def refresh_badges(text: str, day: dt.date) -> str:
    """The header's shields.io ``total_papers-N`` and ``update-YYYY.MM.DD`` badges made current
    (N: the entries in the text); a header without them is left alone."""
    scan = _scan(text)
    end = scan.sections[0].start if scan.sections else len(text)
    header = text[:end]
    values = (str(len(scan.ids)), day.strftime("%Y.%m.%d"))
    for pattern, value in zip(_BADGE_RES, values, strict=True):
        header = pattern.sub(lambda m, v=value: m[1] + v + m[3], header)  # type: ignore[misc]
    return header + text[end:]


# --- merging ----------------------------------------------------------------------------------


class _Insert(NamedTuple):
    at: int  # offset: the new lines go right before the line starting here (or at the end)
    order: int  # at one offset: entries into existing sections first, then new sections
    rank: int  # new sections newest first
    kind: str  # "append" (after an entry), "fill" (an empty section), "section" (a new one)
    body: tuple[str, ...]  # lines without endings
    after_section: bool = False  # "section": a section comes before it (else only the header)
    pad_after: bool = False  # "fill": the next line is not blank, so end with a blank line


def _day(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def merge(
    text: str, add: Sequence[NewEntry], remove: Collection[str] = (), style: Style | None = None
) -> str:
    """Add papers to a list and take papers off it, changing nothing else (docs/list-format.md).

    New lines are written in ``style`` (default: the text's own, see :func:`style_of`).
    Raises ListFormatError when an id in ``add`` or ``remove`` is not an arXiv id or link.
    """
    gone = {_require_id(ref) for ref in remove}
    wanted = [(_require_id(paper.id), paper) for paper in add]
    if not wanted and not gone:
        return text
    scan = _scan(text)
    seen = set(scan.ids)
    seen.update(gone)
    fresh = []
    for pid, paper in wanted:
        if pid not in seen:
            seen.add(pid)
            fresh.append((pid, paper))
    dropped = (
        [(scan.starts[i], scan.stops[i]) for i, pid in enumerate(scan.ids) if pid in gone]
        if gone
        else []
    )
    if not fresh and not dropped:
        return text
    style = style if style is not None else _style(scan)
    additions: dict[dt.date, list[str]] = {}
    for pid, paper in fresh:
        additions.setdefault(_day(paper.date), []).extend(render_entry(paper, style, pid))
    return _splice(scan, _plan(scan, additions, style), dropped, style)


def _line_stop(text: str, offset: int) -> int:
    """Offset just past the line starting at ``offset``."""
    return text.find("\n", offset) + 1 or len(text)


def _blank_at(text: str, offset: int) -> bool:
    """Whether the line starting at ``offset`` is blank (there is one)."""
    return offset < len(text) and text[offset : _line_stop(text, offset)].isspace()


def _plan(scan: _Scan, additions: dict[dt.date, list[str]], style: Style) -> list[_Insert]:
    """Where each group of new lines goes."""
    text = scan.text
    dated = [s for s in scan.sections if s.date is not None]
    first_of_date: dict[dt.date | None, _Section] = {}
    for section in dated:
        first_of_date.setdefault(section.date, section)

    inserts: list[_Insert] = []
    for day, lines in additions.items():
        target = first_of_date.get(day)
        if target is None:
            continue
        if target.count:
            last_stop = scan.stops[target.first + target.count - 1]
            inserts.append(_Insert(last_stop, 0, 0, "append", tuple(lines)))
            continue
        at = target.body
        if style.after_heading and _blank_at(text, at):
            at = _line_stop(text, at)
        pad_after = at < len(text) and not _blank_at(text, at)
        inserts.append(_Insert(at, 0, 0, "fill", tuple(lines), pad_after=pad_after))

    # Missing days, newest first: each goes right above the first older dated section. The
    # first older section of a later day is never above that of an earlier one: one pass.
    missing = sorted((day for day in additions if day not in first_of_date), reverse=True)
    pointer = 0
    for day in missing:
        while pointer < len(dated) and not _older(dated[pointer], day):
            pointer += 1
        if pointer < len(dated):
            at = dated[pointer].start
        elif dated:
            at = dated[-1].stop
        elif scan.sections:
            at = scan.sections[0].start
        else:
            at = len(text)
        blank = [""] * style.after_heading
        shape = (f"### {day.isoformat()}", *blank, *additions[day], *[""] * style.gap)
        after_section = bool(scan.sections) and scan.sections[0].start < at
        inserts.append(_Insert(at, 1, -day.toordinal(), "section", shape, after_section))
    return inserts


def _older(section: _Section, day: dt.date) -> bool:
    return section.date is not None and section.date < day


def _splice(
    scan: _Scan, inserts: list[_Insert], dropped: list[tuple[int, int]], style: Style
) -> str:
    """The text with the inserts added and the dropped spans cut, in one left-to-right pass."""
    text = scan.text
    first_break = text.find("\n")
    eol = "\r\n" if first_break > 0 and text[first_break - 1] == "\r" else "\n"
    # At one offset: inserts (in their own order) go before a span that is cut.
    events: list[tuple[int, int, int, _Insert | None, int]] = [
        (i.at, i.order, i.rank, i, 0) for i in inserts
    ]
    events += [(start, 2, 0, None, stop) for start, stop in dropped]
    events.sort(key=lambda e: e[:3])
    out: list[str] = []  # pieces, each made of whole lines (the last may lack its break)
    cursor = 0
    for at, _, _, insert, cut_to in events:
        if at > cursor:
            out.append(text[cursor:at])
            cursor = at
        if insert is not None:
            _emit(out, insert, eol, style, has_sections=bool(scan.sections))
        else:
            cursor = cut_to
    if cursor < len(text):
        out.append(text[cursor:])
    return "".join(out)


def _last_line_blank(out: list[str]) -> bool:
    if not out:
        return True
    last = out[-1]
    return last[last.rfind("\n", 0, len(last) - 1) + 1 :].isspace()


def _emit(out: list[str], insert: _Insert, eol: str, style: Style, *, has_sections: bool) -> None:
    """Append an insert's lines to ``out`` (the text so far), with the blank lines it needs."""
    if out and not out[-1].endswith("\n"):
        out[-1] += eol  # the text ended without a line break: end its last line
    if insert.kind == "fill":
        if style.after_heading and not _last_line_blank(out):
            out.append(eol)  # a blank line between the heading and the entries
    elif insert.kind == "section":
        want = 0
        if insert.after_section:
            want = style.gap
        elif any(not piece.isspace() for piece in out):
            want = style.lead
        elif not has_sections:
            out.extend((WARNING + eol, eol))  # an empty list starts with the warning
        if want and not _last_line_blank(out):
            out.extend([eol] * want)
    out.extend(line + eol for line in insert.body)
    if insert.pad_after:
        out.append(eol)
