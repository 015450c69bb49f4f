"""``pynetdicom2-storescu`` (:mod:`pynetdicom2.app_storescu`): DCMTK's ``-R`` and ``-nh``,
the summary (also after Ctrl-C) and the exit status, in process against loopback SCPs.

* ``-R`` puts every SOP class / transfer syntax pair on one association (by default: one
  association per transfer syntax), a class met in two syntaxes on two contexts;
* by default the run halts at the first file not stored (a failure status, a refused
  context, a file that is not DICOM), and exits with the failure status's high byte; ``-nh``
  goes on, and exits 1 when anything was not stored;
* Ctrl-C still prints the summary, and exits 130;
* the per-file byte progress of ``-v`` (:class:`TransferMeter`), and its use when the
  library's ``store_many`` takes a ``progress`` callable.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from aetools import serving

from pynetdicom2 import app_storescu, apps, sopclass, statuses, uids
from pynetdicom2.applicationentity import StorageAE
from pynetdicom2.loopback import make_dataset, write_dataset


def peer(scp) -> list[str]:
    return ['-aec', scp.ae_title, '-to', '5', '-ta', '5', '-td', '5', scp.address, str(scp.port)]


def write(directory: Path, sop_class: str = uids.CT_IMAGE_STORAGE,
          ts: str = uids.ExplicitVRLittleEndian) -> Path:
    ds = make_dataset(sop_class)
    ds.file_meta.TransferSyntaxUID = ts
    return write_dataset(ds, directory)


class Failing(StorageAE):
    """Stores what it receives, but answers ``status`` to the C-STOREs numbered in ``fail``."""

    def __init__(self, directory: Path, fail: set[int], status: statuses.Status) -> None:
        super().__init__(directory, 'STORESCP', 0, uids.ALL_TS, host='127.0.0.1')
        self.add_scp(sopclass.storage_scp)
        self.fail = fail
        self.status = status
        self.calls = 0
        self._calls_lock = threading.Lock()

    def on_receive_store(self, context, ds):
        with self._calls_lock:
            self.calls += 1
            number = self.calls
        return self.status if number in self.fail else statuses.SUCCESS


def to(scp: StorageAE) -> list[str]:
    """The command line arguments that reach one of our AEs on loopback."""
    return ['-aec', scp.ae_title, '-to', '5', '-ta', '5', '-td', '5', '127.0.0.1',
            str(scp.local_ae.port)]


# --- -R ------------------------------------------------------------------------------------------


def test_required_proposes_every_pair_on_one_association(dicom_scp, tmp_path, capsys):
    files = [write(tmp_path, uids.CT_IMAGE_STORAGE, uids.ExplicitVRLittleEndian),
             write(tmp_path, uids.CT_IMAGE_STORAGE, uids.ImplicitVRLittleEndian),
             write(tmp_path, uids.MR_IMAGE_STORAGE, uids.ExplicitVRLittleEndian)]
    assert apps.storescu([*peer(dicom_scp), *map(str, files)]) == 0
    assert len(dicom_scp.associations) == 2  # one per transfer syntax
    assert capsys.readouterr().out.strip() == 'sent 3, failed 0, skipped 0'

    assert apps.storescu(['-R', *peer(dicom_scp), *map(str, files)]) == 0
    assert len(dicom_scp.associations) == 3  # one more: all three pairs on it
    assert capsys.readouterr().out.strip() == 'sent 3, failed 0, skipped 0'
    stored = {ds.SOPInstanceUID for ds in dicom_scp.received}
    assert len(stored) == 3


def test_required_with_one_class_per_syntax_uses_the_window(dicom_scp, tmp_path, capsys):
    files = [write(tmp_path, uids.CT_IMAGE_STORAGE, uids.ExplicitVRLittleEndian),
             write(tmp_path, uids.MR_IMAGE_STORAGE, uids.ImplicitVRLittleEndian)]
    assert apps.storescu(['-R', '--async-window', '4', *peer(dicom_scp), *map(str, files)]) == 0
    assert len(dicom_scp.associations) == 1
    assert capsys.readouterr().out.strip() == 'sent 2, failed 0, skipped 0'


def test_plans_keep_to_128_contexts_an_association():
    ts_a, ts_b = uids.ExplicitVRLittleEndian, uids.ImplicitVRLittleEndian
    classes = [f'1.2.3.{n}' for n in range(1, 131)]
    groups = {ts_a: {c: [Path(f'{c}.dcm')] for c in classes}}
    assert [len(p.contexts) for p in app_storescu.plan_associations(groups)] == [128, 2]
    split = {ts_a: {c: [Path('a')] for c in classes[:65]},
             ts_b: {c: [Path('b')] for c in classes[:65]}}
    assert [len(p.contexts) for p in app_storescu.plan_associations(split)] == [65, 65]
    assert [len(p.contexts) for p in app_storescu.plan_associations(split, True)] == [128, 2]
    plan = app_storescu.plan_associations(split, True)[0]
    assert plan.files[0] == (Path('a'), (classes[0], ts_a))


# --- halting, -nh and the exit status ------------------------------------------------------------


def test_halts_at_the_first_failure_status_and_exits_with_its_high_byte(tmp_path, capsys):
    files = [write(tmp_path) for _ in range(3)]
    with serving(Failing(tmp_path / 'scp', {2}, statuses.C_STORE_OUT_OF_RESOURCES)) as scp:
        assert apps.storescu([*to(scp), *map(str, files)]) == 0xA7
    captured = capsys.readouterr()
    assert captured.out.strip() == 'sent 1, failed 1, skipped 0, not sent 1'
    assert 'E: failed' in captured.err and 'halted' in captured.err
    assert scp.calls == 2


def test_no_halt_goes_on_and_exits_1(tmp_path, capsys):
    files = [write(tmp_path) for _ in range(3)]
    with serving(Failing(tmp_path / 'scp', {2}, statuses.C_STORE_OUT_OF_RESOURCES)) as scp:
        assert apps.storescu(['-nh', *to(scp), *map(str, files)]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == 'sent 2, failed 1, skipped 0'
    assert 'halted' not in captured.err
    assert scp.calls == 3


def test_a_warning_status_is_stored(tmp_path, capsys):
    files = [write(tmp_path) for _ in range(2)]
    warning = statuses.Status(0xB000)
    with serving(Failing(tmp_path / 'scp', {1}, warning)) as scp:
        assert apps.storescu([*to(scp), *map(str, files)]) == 0
    assert capsys.readouterr().out.strip() == 'sent 2, failed 0, skipped 0'


def test_a_refused_context_halts_before_anything_is_sent(dicom_scp, tmp_path, capsys):
    unknown = write(tmp_path, '1.2.3.4.5.6')  # a class the SCP does not know
    known = write(tmp_path)
    assert apps.storescu([*peer(dicom_scp), str(unknown), str(known)]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == 'sent 0, failed 1, skipped 0, not sent 1'
    assert 'peer refused 1.2.3.4.5.6' in captured.err
    assert dicom_scp.stored_files() == []
    assert apps.storescu(['-nh', *peer(dicom_scp), str(unknown), str(known)]) == 1
    assert capsys.readouterr().out.strip() == 'sent 1, failed 1, skipped 0'


def test_missing_files_halt_or_are_ignored(dicom_scp, tmp_path, capsys):
    missing = str(tmp_path / 'nope.dcm')
    present = str(write(tmp_path))
    assert apps.storescu([*peer(dicom_scp), missing, present]) == 1
    assert capsys.readouterr().err.strip() == f'E: cannot access file: {missing} (-nh ignores it)'
    assert apps.storescu(['-nh', *peer(dicom_scp), missing, present]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == 'sent 1, failed 0, skipped 0'
    assert f'W: cannot access file: {missing}, ignoring it' in captured.err


def test_nothing_to_send_is_an_error(dicom_scp, tmp_path, capsys):
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert apps.storescu(['+sd', *peer(dicom_scp), str(empty)]) == 1
    assert capsys.readouterr().err.strip() == 'E: no input files to be sent'
    assert apps.storescu(['-nh', *peer(dicom_scp), str(tmp_path / 'nope')]) == 1
    assert 'E: no input files to be sent' in capsys.readouterr().err
    assert dicom_scp.associations == []


def test_only_files_that_are_not_dicom_is_not_a_success(dicom_scp, tmp_path, capsys):
    junk = tmp_path / 'junk.txt'
    junk.write_text('not DICOM')
    assert apps.storescu(['-nh', *peer(dicom_scp), str(junk)]) == 1
    assert capsys.readouterr().out.strip() == 'sent 0, failed 0, skipped 1'
    assert dicom_scp.associations == []


def test_ctrl_c_still_prints_the_summary(dicom_scp, tmp_path, capsys, monkeypatch):
    files = [write(tmp_path) for _ in range(3)]
    seen: list[Path] = []
    advance = app_storescu.FileProgress.advance

    def interrupt_on_the_second(self, path):
        seen.append(path)
        if len(seen) == 2:
            raise KeyboardInterrupt
        advance(self, path)

    monkeypatch.setattr(app_storescu.FileProgress, 'advance', interrupt_on_the_second)
    assert apps.storescu([*peer(dicom_scp), *map(str, files)]) == 130
    captured = capsys.readouterr()
    assert captured.out.strip() == 'sent 1, failed 0, skipped 0, not sent 2'
    assert 'E: interrupted' in captured.err


def test_association_errors_end_with_the_summary_then_one_error_line(tmp_path, capsys):
    path = write(tmp_path)
    assert apps.storescu(['-aec', 'X', '-to', '5', '127.0.0.1', '1', str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == 'sent 0, failed 0, skipped 0, not sent 1'
    assert len(captured.err.strip().splitlines()) == 1 and captured.err.startswith('E: ')


# --- progress inside a file ----------------------------------------------------------------------


def test_transfer_meter_logs_each_step_of_a_large_file():
    lines: list[str] = []
    clock = iter(float(n) for n in range(100))
    meter = app_storescu.TransferMeter(step=10, clock=lambda: next(clock), log=lines.append)
    meter('small.dcm', 5, 5)  # smaller than a step: nothing
    for sent in (0, 9, 10, 15, 20, 30):
        meter('big.dcm', sent, 30)
    assert [line.split(':')[0] for line in lines] == ['big.dcm'] * 3
    assert all('MiB sent' in line and 'MB/s' in line for line in lines)


def test_verbose_byte_progress_of_a_large_file(dicom_scp, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(app_storescu, 'PROGRESS_STEP', 64 * 1024)
    ds = make_dataset()
    ds.BitsAllocated = 8
    ds.add_new(0x7FE00010, 'OB', bytes(512 * 1024))
    path = write_dataset(ds, tmp_path)
    assert apps.storescu(['-v', *peer(dicom_scp), str(path)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if 'MiB sent' in line]
    assert len(lines) >= 4 and all(path.name in line and 'MB/s' in line for line in lines)


def test_help_spells_the_flags_as_dcmtk(capsys):
    with pytest.raises(SystemExit):
        apps.storescu(['--help'])
    out = capsys.readouterr().out
    assert '-R, --required' in out and '-nh, --no-halt' in out
