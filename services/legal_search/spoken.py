"""Spoken Spanish numbers to digits, so voice transcripts read like written questions.

"ordenanza dos mil novecientos cuarenta y siete" -> "ordenanza 2947", "los últimos seis meses" ->
"los últimos 6 meses", "tres de febrero" -> "3 de febrero". text2num does the arithmetic; it only
knows the accented spellings, and transcripts often drop accents, so those few words are restored
first.
"""

from __future__ import annotations

import re

from text_to_num import alpha2digit

# Number words whose accent text2num needs ("veintitres" is not a number to it, "veintitrés" is).
_ACCENTED = {
    "veintidos": "veintidós",
    "veintitres": "veintitrés",
    "veintiseis": "veintiséis",
    "dieciseis": "dieciséis",
    "veintiun": "veintiún",
}
_ACCENT_RE = re.compile(r"\b(" + "|".join(_ACCENTED) + r")\b")
_ORDINAL_MARK = re.compile(r"(?<=\d)[ºª°]")
# "el veinte veintidós": the everyday way of saying 2022, read by text2num as "20 22".
_SPLIT_YEAR = re.compile(r"\b20 ([12]\d)\b")


def digits(folded_text: str) -> str:
    """Folded (lower case, no accents) text with spelled-out numbers written as digits."""
    text = _ACCENT_RE.sub(lambda m: _ACCENTED[m.group(1)], folded_text)
    try:
        out = alpha2digit(text, "es")
    except Exception:  # never let a number reader break a question; keep the words
        return folded_text
    # alpha2digit leaves the accents it needed; give back folded text.
    for plain, accented in _ACCENTED.items():
        out = out.replace(accented, plain)
    out = _ORDINAL_MARK.sub("o", out)  # "4º trimestre" -> "4o trimestre"
    return _SPLIT_YEAR.sub(r"20\1", out)
