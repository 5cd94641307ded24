"""One small exception tree. Each message is one sentence saying what is wrong and what to do."""

from __future__ import annotations


class PaperbotError(Exception):
    """Base of every error paperbot raises on purpose."""


class ConfigError(PaperbotError):
    """The settings or the routes file are wrong; the message names the file, line and problem."""


class TermError(ConfigError):
    """A route's term cannot be used (empty, or a regex that does not compile)."""


class FeedError(PaperbotError):
    """A body is not a usable arXiv feed (empty, not XML, truncated, an API error entry)."""


class ArxivUnavailable(PaperbotError):
    """arXiv could not be reached or kept failing after every retry."""


class ListFormatError(PaperbotError):
    """The markdown list cannot be read or merged."""


class PublishError(PaperbotError):
    """The list could not be published; the message says why and what to do."""


class ChatError(PaperbotError):
    """A chat platform refused or failed; the message says which and what to do."""


class StorageError(PaperbotError):
    """The database cannot be opened or written."""


class UsageError(PaperbotError):
    """A command cannot be understood; the message says how to write it."""
