"""SQLite storage: the only place that speaks SQL.

sqlite_utils is imported here without the numpy and pandas support it loads when they are
installed: paperbot stores no numpy values, and importing them costs every command 100+ ms.
"""

import importlib
import sys


def _import_sqlite_utils() -> None:
    absent = [m for m in ("numpy", "pandas") if m not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` fails meanwhile
    try:
        importlib.import_module("sqlite_utils")
    finally:
        for name in absent:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


_import_sqlite_utils()
