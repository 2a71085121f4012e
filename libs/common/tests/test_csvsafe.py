"""CSV formula injection: text cells a spreadsheet would run are quoted, numbers are not."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from libs.common import csvsafe


def written(*rows) -> list[list[str]]:
    out = io.StringIO()
    csvsafe.writer(out, lineterminator="\n").writerows(rows)
    return list(csv.reader(io.StringIO(out.getvalue(), newline="")))


def test_formula_cells_are_quoted_and_numbers_kept():
    [row] = written(
        [
            '=HYPERLINK("https://evil.example","x")',
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "plain",
            -40000,
            Decimal("-0.25"),
            -1.5,
            "-40000",
            "+1.5",
            "-",
            "",
        ]
    )
    assert row == [
        '\'=HYPERLINK("https://evil.example","x")',
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "plain",
        "-40000",
        "-0.25",
        "-1.5",
        "-40000",
        "+1.5",
        "-",
        "",
    ]


@given(st.text(min_size=2), st.sampled_from([",", ";"]))
def test_no_text_cell_reaches_a_sheet_as_a_formula(text, delimiter):
    out = io.StringIO()
    csvsafe.writer(out, delimiter=delimiter, lineterminator="\n").writerow([text, "next"])
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline=""), delimiter=delimiter))
    # One row of two cells, whatever the text holds (CR, LF, quotes, delimiters).
    assert len(rows) == 1 and rows[0][1] == "next"
    number = csvsafe._PLAIN_NUMBER.fullmatch(text)
    if text.startswith(csvsafe.DANGEROUS_STARTS) and not number:
        assert rows[0][0] == "'" + text
    else:
        assert rows[0][0] == text
