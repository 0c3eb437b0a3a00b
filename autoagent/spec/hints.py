"""Did-you-mean hints that stay fast on specs with thousands of ids.

A small set of names is searched with difflib, as is; a large one through an index of each name
with one character deleted (the SymSpell idea), which finds every name one edit away from the
word (and most two edits away) in time independent of the number of names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

SMALL = 200  # names searched one by one by difflib
LONGEST = 100  # a longer word is no typo of a name (ids have at most 63 characters)


class Suggestions:
    """Hints over a fixed set of names; build it once, ask it for every unknown word."""

    def __init__(self, names: Iterable[object]):
        self.names = sorted({str(n) for n in names})
        self._index: dict[str, list[str]] | None = None

    def hint(self, word: str) -> str:
        """`` (did you mean 'x'?)`` when a name is close to ``word``, else ``""``."""
        if not isinstance(word, str) or len(word) > LONGEST:
            return ""
        pool = self.names if len(self.names) <= SMALL else self._near(word)
        close = difflib.get_close_matches(word, pool, n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""

    def _near(self, word: str) -> list[str]:
        if self._index is None:
            self._index = {}
            for name in self.names:
                if len(name) > LONGEST:
                    continue
                for variant in _deletes(name):
                    self._index.setdefault(variant, []).append(name)
        found: dict[str, None] = {}
        for variant in _deletes(word):
            for name in self._index.get(variant, ()):
                found[name] = None
        return list(found)


def _deletes(word: str) -> set[str]:
    """The word and every word made from it by deleting one character."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def hint(word: str, names: Iterable[object]) -> str:
    """A one-off hint (for the small sets: agents, error kinds, fields)."""
    return Suggestions(names).hint(word)
