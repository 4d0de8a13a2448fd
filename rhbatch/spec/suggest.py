"""Did you mean: the names a misspelt key of a spec may stand for.

Parameters are suggested by their endpoint (``EndpointSchema.close_names``); this module
suggests among the other names a spec has: its top-level keys, a job's own keys
(``id``, ``repeat``, ``matrix``, ...), the keys of ``run`` and ``output``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


def close(name: str, names: Iterable[str], n: int = 1) -> list[str]:
    """The names ``name`` may misspell: those it matches but for letter case, else the
    closest spellings."""
    known = list(names)
    folded = name.casefold()
    same = [k for k in known if k.casefold() == folded and k != name]
    return same[:n] if same else difflib.get_close_matches(name, known, n=n)


def did_you_mean(names: Sequence[str]) -> str:
    """``; did you mean 'a' or 'b'?``, or nothing when there is no name to offer."""
    if not names:
        return ""
    return "; did you mean " + " or ".join(repr(n) for n in names) + "?"
