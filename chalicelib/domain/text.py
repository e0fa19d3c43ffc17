"""Free text that people type (names, programmes, tenant names): normalised, and nothing invisible.

``clean_text`` NFC-normalises and trims, then refuses control characters, format characters
(bidirectional overrides and isolates, zero-width spaces, word joiners, byte-order marks), lone
surrogates, private-use and unassigned code points. The one exception: a zero-width non-joiner or
joiner between two letters or marks, which Persian and Indic names need (Alireza written with a
ZWNJ between its two parts, for one); anywhere else (leading, trailing, doubled, between emoji) it
is refused too.
"""

from __future__ import annotations

import unicodedata

_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_JOINERS = frozenset({"\u200c", "\u200d"})


def clean_text(value: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    for index, char in enumerate(value):
        if unicodedata.category(char) in _INVISIBLE and not _joins_letters(value, index):
            raise ValueError("must not contain control or invisible formatting characters")
    return value


def _joins_letters(value: str, index: int) -> bool:
    if value[index] not in _JOINERS or not 0 < index < len(value) - 1:
        return False
    return all(unicodedata.category(value[i])[0] in "LM" for i in (index - 1, index + 1))
