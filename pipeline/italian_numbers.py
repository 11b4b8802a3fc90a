"""Whole numbers in Italian words, as a bollettino writes the amount ("ottantatré").

Shared by the generator, which prints amounts in letters, and the receipt reader, which reads
them back to cross-check the figures.
"""

from __future__ import annotations

_UNITS = ("zero uno due tre quattro cinque sei sette otto nove dieci undici dodici tredici "
          "quattordici quindici sedici diciassette diciotto diciannove").split()  # fmt: skip
_TENS = ("", "", "venti", "trenta", "quaranta", "cinquanta", "sessanta", "settanta", "ottanta",
         "novanta")  # fmt: skip


def italian_words(n: int) -> str:
    """`n` (0..999999) in Italian words: ventuno, ventotto, centottanta, trentatré, duemila."""
    if n < 0:
        raise ValueError("negative amount")
    if n < 20:
        return _UNITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        word = _TENS[tens]
        if unit in (1, 8):  # venti + uno -> ventuno, venti + otto -> ventotto
            word = word[:-1]
        return word + ("tré" if unit == 3 else _UNITS[unit] if unit else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        word = "cento" if hundreds == 1 else _UNITS[hundreds] + "cento"
        if 80 <= rest < 90:  # cento + ottanta -> centottanta
            word = word[:-1]
        return word + (italian_words(rest) if rest else "")
    if n < 1_000_000:
        thousands, rest = divmod(n, 1000)
        word = "mille" if thousands == 1 else italian_words(thousands) + "mila"
        return word + (italian_words(rest) if rest else "")
    raise ValueError("amount too large for a bollettino")
