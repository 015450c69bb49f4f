"""DCMTK 3.6 against ``pynetdicom2-qrscp``: storescu fills it, findscu/movescu/getscu query it.

The archive is three of the session's samples (CT implicit LE, MR explicit LE, CT explicit BE),
one study each, all of patient INTEROP-1 (``Müller^Jürgen``, ISO_IR 100), sent by DCMTK's
``storescu`` to a :class:`pynetdicom2.qrscp.QRSCP` run by :func:`pynetdicom2.qrscp.qrscp` (the
console script's code) in a thread, with its SQLite index and an INI destinations file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from pynetdicom2.qrscp import QRSCP, qrscp

pytestmark = pytest.mark.interop

AET = 'QRSCP'
SAMPLES = ('implicit_le', 'explicit_le', 'explicit_be')
TIMEOUTS = ['-to', '10', '-ta', '10', '-td', '10']
START_TIMEOUT = 10.0


def keys(level: str, **values: str) -> list[str]:
    args = ['-k', f'QueryRetrieveLevel={level}']
    for keyword, value in values.items():
        args += ['-k', f'{keyword}={value}']
    return args


def received(directory: Path) -> dict[str, Path]:
    """SOPInstanceUID -> file, for the files DCMTK wrote in ``directory``."""
    return {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
            for p in directory.iterdir() if p.is_file()}


@pytest.fixture
def archive(tmp_path: Path, dcmtk: Any, free_port: Any, sample_of: Any) -> Iterator[Any]:
    """qrscp over tmp_path/pacs with 'MOVESCU' as a destination, filled by DCMTK storescu."""
    dcmtk.require('storescu', 'findscu', 'movescu', 'getscu')
    samples = [sample_of(name) for name in SAMPLES]
    folder = tmp_path / 'pacs'
    folder.mkdir()
    movescu_port = free_port()
    ini = tmp_path / 'destinations.ini'
    ini.write_text(f'[destinations]\nMOVESCU = 127.0.0.1:{movescu_port}\n')
    ready = threading.Event()
    started: list[QRSCP] = []

    def on_ready(scp: QRSCP) -> None:
        started.append(scp)
        ready.set()

    thread = threading.Thread(
        target=qrscp, name='pynetdicom2-test-qrscp', kwargs={'ready': on_ready},
        args=(['-aet', AET, '-od', str(folder), '--destinations', str(ini), '--bind', '127.0.0.1',
               '-ta', '10', '-td', '10', '0'],),
    )
    thread.start()
    try:
        assert ready.wait(START_TIMEOUT), 'qrscp did not start'
        scp = started[0]
        port = scp.local_ae.port
        stored = dcmtk.run('storescu', '-aec', AET, *TIMEOUTS, '127.0.0.1', port,
                           *[s.path for s in samples])
        assert stored.returncode == 0, stored.explain()
        assert len(scp.db) == len(samples)
        yield scp, port, samples, movescu_port
    finally:
        for scp in started:
            scp.quit()
        thread.join(START_TIMEOUT)
        assert not thread.is_alive()


@pytest.mark.parametrize(('model', 'level', 'query', 'expected'), [
    ('-P', 'PATIENT', {'PatientID': 'INTEROP-*', 'PatientName': ''}, 1),
    ('-P', 'STUDY', {'PatientID': 'INTEROP-1', 'StudyInstanceUID': '', 'StudyDate': '20240101-'},
     3),
    ('-S', 'STUDY', {'PatientName': 'M?ller*', 'StudyInstanceUID': ''}, 3),
    ('-S', 'STUDY', {'StudyDate': '-20231231', 'StudyInstanceUID': ''}, 0),
    ('-S', 'SERIES', {'Modality': 'MR', 'SeriesInstanceUID': '', 'StudyInstanceUID': ''}, 1),
    ('-S', 'IMAGE', {'SOPInstanceUID': ''}, 3),
])
def test_findscu(archive, dcmtk, tmp_path, model, level, query, expected):
    _scp, port, _samples, _ = archive
    out = tmp_path / 'responses'
    out.mkdir()
    done = dcmtk.run('findscu', '-v', model, '-aec', AET, *TIMEOUTS, '-X', '-od', out,
                     *keys(level, **query), '127.0.0.1', port)
    assert done.returncode == 0, done.explain()
    assert done.output.count('(Pending)') == expected, done.explain()
    responses = sorted(out.glob('rsp*.dcm'))
    assert len(responses) == expected
    for path in responses:
        answer = dcmread(path)
        assert answer.QueryRetrieveLevel == level
        if 'PatientName' in query:
            assert str(answer.PatientName) == 'Müller^Jürgen'


def test_findscu_patient_level_in_study_root_fails(archive, dcmtk):
    _scp, port, _samples, _ = archive
    done = dcmtk.run('findscu', '-v', '-S', '-aec', AET, *TIMEOUTS,
                     *keys('PATIENT', PatientID=''), '127.0.0.1', port)
    # PS3.4 C.6.2: no PATIENT level in Study Root; C.4.1.1.4: A900H, identifier does not
    # match SOP class, which DCMTK names.
    assert 'Received Final Find Response (Error: DataSetDoesNotMatchSOPClass)' in done.output, \
        done.explain()


@pytest.mark.parametrize('model', ['-P', '-S'])
def test_movescu(archive, dcmtk, tmp_path, assert_same, model):
    _scp, port, samples, movescu_port = archive
    target = samples[1]
    study = str(dcmread(target.path, stop_before_pixels=True).StudyInstanceUID)
    out = tmp_path / 'moved'
    out.mkdir()
    done = dcmtk.run('movescu', '-v', model, '-aet', 'MOVESCU', '-aec', AET, '-aem', 'MOVESCU',
                     '+P', movescu_port, '-od', out, *TIMEOUTS,
                     *keys('STUDY', PatientID='INTEROP-1', StudyInstanceUID=study),
                     '127.0.0.1', port)
    assert done.returncode == 0, done.explain()
    assert 'Received Final Move Response (Success)' in done.output, done.explain()
    files = received(out)
    assert list(files) == [str(target.sop_instance_uid)]
    assert_same(target, files[str(target.sop_instance_uid)], same_syntax=False)


def test_movescu_unknown_destination(archive, dcmtk):
    _scp, port, _samples, _ = archive
    done = dcmtk.run('movescu', '-v', '-S', '-aec', AET, '-aem', 'NOBODY', *TIMEOUTS,
                     *keys('STUDY', StudyInstanceUID=''), '127.0.0.1', port)
    assert 'Received Final Move Response (Refused: MoveDestinationUnknown)' in done.output, \
        done.explain()


@pytest.mark.parametrize('model', ['-P', '-S'])
def test_getscu(archive, dcmtk, tmp_path, assert_same, model):
    _scp, port, samples, _ = archive
    out = tmp_path / 'got'
    out.mkdir()
    level = 'PATIENT' if model == '-P' else 'STUDY'
    done = dcmtk.run('getscu', '-v', model, '-aec', AET, '-od', out, *TIMEOUTS,
                     *keys(level, PatientID='INTEROP-1'), '127.0.0.1', port)
    assert done.returncode == 0, done.explain()
    assert f'Number of Completed Suboperations : {len(samples)}' in done.output, done.explain()
    assert 'Number of Failed Suboperations    : 0' in done.output, done.explain()
    files = received(out)
    assert set(files) == {str(s.sop_instance_uid) for s in samples}
    for sample in samples:
        assert_same(sample, files[str(sample.sop_instance_uid)], same_syntax=False)
