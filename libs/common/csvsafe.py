"""CSV the platform writes, safe to open in a spreadsheet (no formula injection).

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula
by Excel, LibreOffice and Google Sheets (`=HYPERLINK("https://evil", "click")`). Following
OWASP's "CSV Injection" advice, such a text cell is written with a single quote in front:
spreadsheets show the text as typed, and a program reading the CSV sees the quote.

Numbers stay numbers: an int, a float or a Decimal is written as it is, and so is a text cell
that is exactly a plain decimal number (`-40000`, `+1.5`, `-0.25`). A spreadsheet reads
those as numbers, never as formulas, and quoting them would turn open-data figures (a
negative leftover, a refund) into text that no longer sums. A cell that is that one character
alone (pabulib writes `-` for "unknown") holds no formula and is kept too. Anything else that
starts with a dangerous character (`-1+1`, `-cmd|...`, `@SUM(...)`) is neutralised.

Every CSV writer of the platform goes through `writer(...)` (or `neutralise` per cell).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(cell: Any) -> Any:
    """The cell to write: a text cell that a spreadsheet would run as a formula gets a quote."""
    if isinstance(cell, bool | int | float | Decimal) or cell is None:
        return cell
    text = str(cell)
    if len(text) > 1 and text.startswith(DANGEROUS_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class SafeWriter:
    """A minimal-quoting CSV writer (like `csv.writer`) whose cells are neutralised.

    `csv.writer` leaves a lone carriage return unquoted when the line terminator is "\n":
    a reader then starts a new row there, and a cell "'\r=cmd" would become a row starting
    with "=cmd". This writer quotes any cell holding the delimiter, the quote, CR or LF."""

    def __init__(
        self, stream, *, delimiter: str = ",", quotechar: str = '"', lineterminator: str = "\r\n"
    ) -> None:
        self._stream = stream
        self._delimiter, self._quote, self._end = delimiter, quotechar, lineterminator
        self._special = (delimiter, quotechar, "\r", "\n")

    def _field(self, cell: Any) -> str:
        cell = neutralise(cell)
        text = "" if cell is None else str(cell)
        if any(c in text for c in self._special):
            return self._quote + text.replace(self._quote, self._quote * 2) + self._quote
        return text

    def writerow(self, row: Iterable[Any]) -> None:
        fields = [self._field(c) for c in row]
        if fields == [""]:
            fields = [self._quote * 2]  # as csv.writer: an empty row would read as no row
        self._stream.write(self._delimiter.join(fields) + self._end)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(
    stream, *, delimiter: str = ",", quotechar: str = '"', lineterminator: str = "\r\n"
) -> SafeWriter:
    """A CSV writer (the arguments of `csv.writer` the platform uses) that neutralises
    formula-like cells."""
    return SafeWriter(
        stream, delimiter=delimiter, quotechar=quotechar, lineterminator=lineterminator
    )
