"""How a customer's text is matched (DESIGN §4): words folded to plain lower case, the
punctuation and emoji around them dropped (never the `+`, `.`, `,` inside numbers and
amounts), and the courtesy words people write around a command dropped. Pure.
"""

from __future__ import annotations

import unicodedata

__all__ = ["COURTESY", "fold", "tokens", "without_courtesy"]

# DESIGN §4's courtesy words, folded and split into words; dropped at either end of a text.
COURTESY: tuple[tuple[str, ...], ...] = tuple(
    tuple(p.split())
    for p in ("faleminderit", "flm", "ju lutem", "pls", "please", "thanks", "hvala", "molim")
)

# Cyrillic and Greek letters that look like B and K, from phones set to Serbian or Greek.
_LOOKALIKES = str.maketrans({"в": "b", "β": "b", "к": "k", "κ": "k"})


def fold(token: str) -> str:
    """Lower-case without diacritics: `Bilanç` → `bilanc`, `KURSIMI` → `kursimi`."""
    decomposed = unicodedata.normalize("NFD", token.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain if plain.isascii() else plain.translate(_LOOKALIKES)


def _is_punct(ch: str) -> bool:
    """Punctuation, and the emoji and other symbols phones put around words; never a
    currency sign (`€`) or a maths sign (`+`), which belong to amounts and numbers."""
    return unicodedata.category(ch) in {"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "So", "Sk"}


def _strip_punct(token: str) -> str:
    """Drop punctuation around a token; keep a leading `-`/`+`/`(` that belongs to a number
    or amount, and a closing `)` that pairs with an opening one."""
    end = len(token)
    while end > 0 and _is_punct(token[end - 1]) and not (
        token[end - 1] == ")" and "(" in token[: end - 1]
    ):
        end -= 1
    start = 0
    while start < end and _is_punct(token[start]):
        if token[start] in "-(" and start + 1 < end and token[start + 1].isascii() and (
            token[start + 1].isdigit()
        ):
            break
        start += 1
    return token[start:end]


def tokens(text: str) -> list[str]:
    # Invisible format characters (zero-width spaces, direction marks) that keyboards add.
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
    out = []
    for raw in visible.split():
        token = _strip_punct(raw)
        if token:
            out.append(token)
    return out


def without_courtesy(tokens: list[str]) -> list[str]:
    """`tokens` without courtesy words (and phrases such as `ju lutem`) at either end."""
    folded = [fold(t) for t in tokens]
    start, end = 0, len(tokens)
    changed = True
    while changed:
        changed = False
        for phrase in COURTESY:
            n = len(phrase)
            if end - start >= n and tuple(folded[start:start + n]) == phrase:
                start += n
                changed = True
            if end - start >= n and tuple(folded[end - n:end]) == phrase:
                end -= n
                changed = True
    return tokens[start:end]
