"""paperbot: arXiv papers in, team votes, a curated markdown list out."""

__version__ = "0.1.0"
