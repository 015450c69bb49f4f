"""The owner of received data sets' files (pynetdicom2/receivedfiles.py): kept or discarded,
never left behind; see also tests/test_faults.py and tests/test_sopclass.py end to end."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pydicom.dataset import Dataset

from pynetdicom2.fsm import PContextDef
from pynetdicom2.receivedfiles import DiscardedDataSet, ReceivedFiles

CT = '1.2.840.10008.5.1.4.1.1.2'
CONTEXT = PContextDef(1, CT, '1.2.840.10008.1.2')


class Recorder:
    def __init__(self, fail_keep: bool = False) -> None:
        self.kept: list[Any] = []
        self.discarded: list[Any] = []
        self.fail_keep = fail_keep

    def get_file(self, context: Any, command_set: Any) -> tuple[Any, int]:
        return io.BytesIO(), 0

    def keep_file(self, fp: Any, command_set: Any) -> None:
        if self.fail_keep:
            raise OSError(28, 'No space left on device')
        self.kept.append(fp)

    def discard_file(self, fp: Any) -> None:
        self.discarded.append(fp)


def command_set(instance: str = '1.2.3.4') -> Dataset:
    ds = Dataset()
    ds.AffectedSOPClassUID = CT
    ds.AffectedSOPInstanceUID = instance
    return ds


def test_kept_files_are_not_discarded_later() -> None:
    ae = Recorder()
    files = ReceivedFiles(ae)
    fp, _ = files.open(CONTEXT, command_set())
    with files.handling(fp):
        files.keep(fp, command_set())
    files.discard_all()
    assert ae.kept == [fp] and ae.discarded == [] and len(files) == 0


def test_a_failed_keep_discards_and_raises() -> None:
    ae = Recorder(fail_keep=True)
    files = ReceivedFiles(ae)
    fp, _ = files.open(CONTEXT, command_set())
    with pytest.raises(OSError):
        files.keep(fp, command_set())
    assert ae.discarded == [fp] and len(files) == 0


def test_the_end_discards_every_file_still_owned_once() -> None:
    ae = Recorder()
    files = ReceivedFiles(ae)
    first, _ = files.open(CONTEXT, command_set('1.2.3.4'))
    second, _ = files.open(CONTEXT, command_set('1.2.3.5'))
    files.discard(first)
    files.discard(first)  # idempotent
    files.discard_all()
    assert ae.discarded == [first, second]
    assert files.positions() == []


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_an_unsafe_uid_goes_nowhere() -> None:
    ae = Recorder()
    files = ReceivedFiles(ae)
    sink, start = files.open(CONTEXT, command_set('../etc/passwd'))
    assert isinstance(sink, DiscardedDataSet) and start == 0
    assert len(files) == 0
    files.discard(sink)
    assert ae.discarded == []


def test_bytes_need_nothing() -> None:
    ae = Recorder()
    files = ReceivedFiles(ae)
    with files.handling(b'\x00\x01'):
        files.keep(b'\x00\x01', command_set())
    assert ae.kept == [] and ae.discarded == []
