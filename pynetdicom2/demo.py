"""``python -m pynetdicom2 demo``: a Q/R SCP on loopback, and every service run against it.

This module owns the demo: in a temporary directory it starts a
:class:`~pynetdicom2.loopback.LoopbackSCP` (the archive) and a storage SCP (the C-MOVE
destination) on free ports of 127.0.0.1, then a client AE runs C-ECHO, C-STORE of pydicom's
bundled sample files, C-FIND, C-MOVE and C-GET, and a table says what happened and how long
each step took. Everything is stopped and deleted at the end; nothing leaves the machine.

Usage::

    python -m pynetdicom2 demo

    from pynetdicom2 import demo
    for line in demo.run():
        print(line)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from pynetdicom2 import __version__, sopclass, statuses
from pynetdicom2.applicationentity import StorageAE
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.loopback import LoopbackSCP, make_study, query

__all__ = ['SAMPLE_FILES', 'Step', 'run', 'sample_datasets']

#: pydicom's bundled test files the demo stores (uncompressed, so any peer accepts them).
SAMPLE_FILES = ('CT_small.dcm', 'MR_small.dcm', 'rtplan.dcm', 'rtdose.dcm')

ARCHIVE_AET = 'DEMO-QRSCP'
DESTINATION_AET = 'DEMO-DEST'
CLIENT_AET = 'DEMO-SCU'


@dataclass(frozen=True)
class Step:
    """One line of the demo's table: the service, what was asked, the outcome, the time."""

    service: str
    request: str
    outcome: str
    seconds: float


def sample_datasets() -> list[tuple[str, Any]]:
    """``(name, path or Dataset)`` of the demo's data: pydicom's sample files, if it has them.

    pydicom ships :data:`SAMPLE_FILES` with its wheel; when they are missing (a trimmed
    install), two generated studies of two instances each are used instead.
    """
    found: list[tuple[str, Any]] = []
    try:
        from pydicom.data import get_testdata_file
    except ImportError:  # pragma: no cover - pydicom always has it
        pass
    else:
        for name in SAMPLE_FILES:
            try:
                path = get_testdata_file(name, download=False)
            except Exception:  # no network, no file: fall back below
                path = None
            if path:
                found.append((name, str(path)))
    if not found:
        for patient in ('DEMO1', 'DEMO2'):
            for ds in make_study(1, 2, PatientID=patient, PatientName=f'Demo^{patient}'):
                found.append((f'generated {patient}/{ds.InstanceNumber}', ds))
    return found


def _status(status: statuses.Status | None) -> str:
    if status is None:
        return 'no response'
    if status.is_success:
        return 'Success'
    return f'{int(status):04X}H'


def _timed(action: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def _counts(response: Any) -> str:
    return (f'{response.num_of_completed_sub_ops} completed, '
            f'{response.num_of_failed_sub_ops} failed')


def _table(steps: list[Step]) -> list[str]:
    rows = [('service', 'request', 'outcome', 'time')] + [
        (step.service, step.request, step.outcome, f'{step.seconds * 1000:.1f} ms')
        for step in steps
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths[:3])]
        lines.append('  '.join([*cells, row[3].rjust(widths[3])]).rstrip())
        if index == 0:
            lines.append('  '.join('-' * width for width in widths))
    return lines


def run(workdir: str | Path | None = None) -> Iterator[str]:
    """Run the demo; yield the lines to print. Raises NetDICOMError if a step fails.

    ``workdir`` (default: a temporary directory, deleted afterwards) receives the
    ``archive``, ``moved`` and ``retrieved`` folders.

    Ports and times vary from run to run:

    >>> for line in run():
    ...     print(line)
    pynetdicom2 ... demo: DEMO-QRSCP (Q/R SCP) on 127.0.0.1:..., DEMO-DEST (storage SCP) on
    127.0.0.1:..., client DEMO-SCU
    <BLANKLINE>
    service  request                      outcome                   time
    -------  ...
    C-ECHO   DEMO-SCU -> DEMO-QRSCP       Success                ... ms
    C-STORE  4 files (...)                4 stored               ... ms
    C-FIND   STUDY level, PatientName=*   ... studies            ... ms
    C-MOVE   ... studies -> DEMO-DEST     4 completed, 0 failed  ... ms
    C-GET    ... studies -> DEMO-SCU      4 completed, 0 failed  ... ms
    <BLANKLINE>
    studies found:
    ...
    all 5 services worked; 4 instances stored, moved and retrieved in ... ms
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix='pynetdicom2-demo-') as temporary:
            yield from _run(Path(temporary))
    else:
        yield from _run(Path(workdir))


def _run(workdir: Path) -> Iterator[str]:
    samples = sample_datasets()
    archive = LoopbackSCP(workdir / 'archive', ARCHIVE_AET)
    destination = StorageAE(workdir / 'moved', DESTINATION_AET, 0, host='127.0.0.1')
    destination.add_scp(sopclass.storage_scp)
    steps: list[Step] = []
    with archive, destination:
        archive.destinations[DESTINATION_AET] = {
            'aet': DESTINATION_AET, 'address': '127.0.0.1', 'port': destination.local_ae.port,
        }
        yield (f'pynetdicom2 {__version__} demo: {ARCHIVE_AET} (Q/R SCP) on '
               f'127.0.0.1:{archive.port}, {DESTINATION_AET} (storage SCP) on '
               f'127.0.0.1:{destination.local_ae.port}, client {CLIENT_AET}')
        client = archive.client(CLIENT_AET, workdir / 'retrieved')

        status, seconds = _timed(client.echo)
        steps.append(Step('C-ECHO', f'{CLIENT_AET} -> {ARCHIVE_AET}', _status(status), seconds))
        if not status.is_success:
            raise NetDICOMError(f'C-ECHO failed: {status}')

        answers, seconds = _timed(lambda: client.store(*(item for _, item in samples)))
        stored = sum(1 for answer in answers if answer.is_success)
        steps.append(Step('C-STORE', f'{len(samples)} files ({samples[0][0]}, ...)',
                          f'{stored} stored', seconds))
        failed = [name for (name, _), answer in zip(samples, answers) if not answer.is_success]
        if failed:
            raise NetDICOMError(f'C-STORE failed for {", ".join(failed)}')

        request = query('STUDY', PatientName='*', PatientID='', StudyInstanceUID='',
                        StudyDate='', ModalitiesInStudy='')
        matches, seconds = _timed(lambda: client.find(request))
        steps.append(Step('C-FIND', 'STUDY level, PatientName=*',
                          f'{len(matches)} studies', seconds))

        every_study = query('STUDY', StudyInstanceUID='\\'.join(
            str(match.StudyInstanceUID) for match in matches
        ))
        moved, seconds = _timed(lambda: client.move(every_study, DESTINATION_AET))
        steps.append(Step('C-MOVE', f'{len(matches)} studies -> {DESTINATION_AET}',
                          _counts(moved), seconds))

        got, seconds = _timed(lambda: client.get(every_study))
        steps.append(Step('C-GET', f'{len(matches)} studies -> {CLIENT_AET}',
                          _counts(got), seconds))

    yield ''
    yield from _table(steps)
    yield ''
    yield 'studies found:'
    for match in matches:
        yield f'  {_text(match, "PatientName"):<24} {_text(match, "PatientID"):<10} ' \
              f'{_text(match, "StudyDate"):<8}  {match.StudyInstanceUID}'
    complete = (moved.num_of_completed_sub_ops, got.num_of_completed_sub_ops) == (stored, stored)
    if moved.num_of_failed_sub_ops or got.num_of_failed_sub_ops or not complete:
        raise NetDICOMError(f'the retrieves did not bring back all {stored} instances')
    yield ''
    yield (f'all {len(steps)} services worked; {stored} instances stored, moved and '
           f'retrieved in {sum(step.seconds for step in steps) * 1000:.0f} ms')


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return '' if value is None else str(value)
