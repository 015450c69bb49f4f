"""The owner of received data sets' files (pynetdicom2/receivedfiles.py): kept or discarded,
never left behind; see also tests/test_faults.py and tests/test_sopclass.py end to end."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from pynetdicom2.filestorage import StagedFile, write_meta
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


class Folder:
    """A storing AE in miniature: staged files in ``directory``, kept as <instance>.dcm."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get_file(self, context: Any, command_set: Dataset) -> tuple[Any, int]:
        staged = StagedFile(self.directory)
        write_meta(staged, command_set, context.supported_ts)
        return staged, 0

    def keep_file(self, fp: Any, command_set: Dataset) -> None:
        fp.commit(self.directory / f'{command_set.AffectedSOPInstanceUID}.dcm')

    def discard_file(self, fp: Any) -> None:
        fp.discard()


def receive(files: ReceivedFiles, instance: str, data: bytes = b'data') -> Any:
    fp, _ = files.open(CONTEXT, command_set(instance))
    fp.write(data)
    fp.seek(0)
    return fp


def hidden(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.startswith('.'))


def test_a_batch_has_the_file_of_its_next_data_set_ready(tmp_path: Path) -> None:
    files = ReceivedFiles(Folder(tmp_path))
    first = receive(files, '1.2.3.1')
    with files.handling(first):
        files.keep(first, command_set('1.2.3.1'))
    assert hidden(tmp_path) == []  # one data set is no batch: nothing prepared
    second = receive(files, '1.2.3.2')
    with files.handling(second):
        with files.handling(second):  # a service's own block, inside the dispatcher's
            files.keep(second, command_set('1.2.3.2'))
        assert hidden(tmp_path) == []  # prepared only once the outermost block is done
    prepared = hidden(tmp_path)
    assert len(prepared) == 1
    third = receive(files, '1.2.3.3', b'third')
    assert os.path.basename(third.name) == prepared[0]  # the prepared file, not a new one
    with files.handling(third):
        files.keep(third, command_set('1.2.3.3'))
    assert (tmp_path / '1.2.3.3.dcm').read_bytes().endswith(b'third')
    assert len(hidden(tmp_path)) == 1
    files.discard_all()  # the association ended: nothing prepared stays
    assert hidden(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ['1.2.3.1.dcm', '1.2.3.2.dcm', '1.2.3.3.dcm']


def test_refused_and_unfinished_data_sets_leave_nothing(tmp_path: Path) -> None:
    files = ReceivedFiles(Folder(tmp_path))
    for instance in ('1.2.3.1', '1.2.3.2', '1.2.3.3'):
        refused = receive(files, instance)
        with files.handling(refused):
            pass  # not kept
    unfinished = receive(files, '1.2.3.4')  # in the file the third one prepared
    assert len(files) == 1 and hidden(tmp_path) == [os.path.basename(unfinished.name)]
    files.discard_all()
    assert os.listdir(tmp_path) == [] and unfinished.closed
