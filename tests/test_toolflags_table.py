"""``docs/reference/dcmtk_flags.rst`` stays true: the table of DCMTK's flags and ours.

Each row of the page's tables names a DCMTK flag (short and long spelling), the DCMTK tools
that have it, and what ours do: ``same``, ``ours is ...``, ``differs: ...`` or ``not
supported``. Checked against the argument parsers of our tools as they are:

* ``same``: both spellings are accepted by each tool's parser;
* ``ours is X``: each spelling ``X`` names is accepted;
* ``differs``: accepted, with a meaning the row explains;
* ``not supported``: neither spelling is accepted (so a flag added later must be listed);

and, when DCMTK is installed, every flag its tools' ``--help`` prints has a row.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pynetdicom2 import apps, toolflags
from pynetdicom2.qrscp import qrscp

PAGE = Path(__file__).resolve().parent.parent / 'docs' / 'reference' / 'dcmtk_flags.rst'

#: DCMTK's tool -> ours.
OURS: dict[str, Callable[..., int]] = {
    'echoscu': apps.echoscu, 'storescu': apps.storescu, 'storescp': apps.storescp,
    'findscu': apps.findscu, 'getscu': apps.getscu, 'movescu': apps.movescu,
    'dcmqrscp': qrscp,
}
VERDICTS = ('same', 'ours is', 'differs', 'not supported')
SPELLING = re.compile(r'``([-+][^`\s]*)``')


@dataclass(frozen=True)
class Row:
    """One row: DCMTK's spellings, the DCMTK tools that have the flag, our verdict."""

    line: int
    spellings: tuple[str, ...]
    tools: tuple[str, ...]
    ours: str

    @property
    def verdict(self) -> str:
        return next(v for v in VERDICTS if self.ours.startswith(v))

    @property
    def our_spellings(self) -> list[str]:
        """For ``ours is ...``: the spellings named before the first period or semicolon."""
        head = re.split(r'[.;]', self.ours, maxsplit=1)[0]
        return SPELLING.findall(head)


def table_rows(text: str) -> list[Row]:
    """The three-column rows of the page's list-tables whose first cell is a flag."""
    rows: list[Row] = []
    cells: list[str] = []
    start = 0

    def finish() -> None:
        if len(cells) == 3 and cells[0].startswith('``'):
            rows.append(Row(start, tuple(SPELLING.findall(cells[0])),
                            tuple(cells[1].replace(',', ' ').split()), cells[2]))
        cells.clear()

    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith('* - '):
            finish()
            cells.append(stripped[4:])
            start = number
        elif cells and stripped.startswith('- '):
            cells.append(stripped[2:])
        elif cells and stripped and line.startswith(' ' * 6):
            cells[-1] = f'{cells[-1]} {stripped}'  # the next line of a cell
        elif stripped:
            finish()
    finish()
    return rows


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__()
        self.parser = parser


def our_options(tool: str, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every option string our ``tool``'s parser accepts (its parser, caught as it parses)."""

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Captured(self)

    monkeypatch.setattr(toolflags.DcmtkArgumentParser, 'parse_known_args', capture)
    with pytest.raises(_Captured) as caught:
        OURS[tool]([])
    monkeypatch.undo()
    return set(caught.value.parser._option_string_actions)  # argparse's table of options


@pytest.fixture(scope='module')
def rows() -> list[Row]:
    found = table_rows(PAGE.read_text(encoding='utf-8'))
    assert len(found) > 100, f'{PAGE}: tables not found'
    return found


def test_rows_are_well_formed(rows):
    for row in rows:
        assert row.spellings, f'{PAGE.name}:{row.line}: no flag in the first cell'
        assert row.tools and set(row.tools) <= set(OURS), (
            f'{PAGE.name}:{row.line}: unknown tool in {row.tools}')
        assert row.ours.startswith(VERDICTS), (
            f'{PAGE.name}:{row.line}: the third cell starts with one of {VERDICTS}')
        if row.verdict == 'ours is':
            assert row.our_spellings, f'{PAGE.name}:{row.line}: "ours is" names no flag'


@pytest.mark.parametrize('tool', sorted(OURS))
def test_the_table_matches_our_parser(tool, rows, monkeypatch):
    accepted = our_options(tool, monkeypatch)
    wrong = []
    for row in (r for r in rows if tool in r.tools):
        spellings = set(row.spellings)
        if row.verdict == 'same' and not spellings <= accepted:
            wrong.append(f'{row.line}: "same" but {sorted(spellings - accepted)} not accepted')
        elif row.verdict == 'differs' and not spellings & accepted:
            wrong.append(f'{row.line}: "differs" but {sorted(spellings)} not accepted')
        elif row.verdict == 'not supported' and spellings & accepted:
            wrong.append(f'{row.line}: "not supported" but {sorted(spellings & accepted)} '
                         'accepted')
        elif row.verdict == 'ours is' and not set(row.our_spellings) <= accepted:
            wrong.append(f'{row.line}: ours is {row.our_spellings}: not all accepted')
    assert not wrong, f'{PAGE.name} ({tool}):\n' + '\n'.join(wrong)


def dcmtk_flags(tool: str) -> set[str]:
    """The long spelling of every option DCMTK's ``tool --help`` prints."""
    path = Path('/usr/bin') / tool
    if not path.exists():
        pytest.skip(f'DCMTK {tool} is not installed in /usr/bin')
    done = subprocess.run([str(path), '--help'], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, env={'TCP_NODELAY': '1'})
    flags = set()
    for line in done.stdout.splitlines():
        tokens = line.split()
        indent = len(line) - len(line.lstrip())
        if indent > 12:  # a description's next line (it may name an option: not a row)
            continue
        if len(tokens) >= 2 and tokens[0][:1] in '-+' and tokens[1].startswith('--'):
            flags.add(tokens[1])
        elif tokens and tokens[0].startswith('--'):
            flags.add(tokens[0])
    return flags


@pytest.mark.parametrize('tool', sorted(OURS))
def test_every_dcmtk_flag_has_a_row(tool, rows):
    listed = {s for row in rows if tool in row.tools for s in row.spellings}
    missing = sorted(dcmtk_flags(tool) - listed)
    assert not missing, f'{PAGE.name}: {tool} flags without a row: {missing}'
