"""arXiv input: identifiers (`ids`), listing feeds (`feeds`) and API pages (`api`).

Everything here turns text or bytes into `bot.models` values and nothing else: no network,
no clock, no storage. Parsers raise only `bot.errors.FeedError`; the id helpers return None
(or raise `ValueError` from `ids.base_id`, meant for user input).
"""
