"""The check digit of an Italian partita IVA, and of a company's (numeric, 11-digit) codice
fiscale, which uses the same number and algorithm.

The eleventh digit is a Luhn check of the first ten: the digits in odd places (first,
third... ninth) count as they are, those in even places doubled, less 9 when the double is
more than 9; the check digit brings the sum to a multiple of ten (D.M. 23 dicembre 1976,
Ministero delle Finanze, art. 1; Agenzia delle Entrate, "Struttura del numero di partita IVA").
"""

from __future__ import annotations

#: What each digit counts for, by place: index 0 an odd place, 1 an even one.
WEIGHTS = (tuple(range(10)), tuple(2 * d - 9 if 2 * d > 9 else 2 * d for d in range(10)))


def weight(place: int, digit: int) -> int:
    """What `digit` in 0-based `place` adds to the sum the check digit completes (the check
    digit itself, place 10, counts as it is)."""
    return WEIGHTS[place % 2][digit]


def check_digit(first_ten: str) -> str:
    """The eleventh digit of a partita IVA whose first ten are `first_ten`."""
    if len(first_ten) != 10 or not first_ten.isdigit():
        raise ValueError("a partita IVA's first ten characters are digits")
    total = sum(weight(i, int(c)) for i, c in enumerate(first_ten))
    return str(-total % 10)


def is_valid(number: str) -> bool:
    """Eleven digits whose last is the check digit of the first ten."""
    return len(number) == 11 and number.isdigit() and check_digit(number[:10]) == number[10]
