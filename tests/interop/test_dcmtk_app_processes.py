"""DCMTK 3.6's tools against our servers run as the installed console scripts (processes).

* DCMTK ``storescu`` fills a ``pynetdicom2-qrscp`` process; ``echoscu``, ``findscu``,
  ``movescu`` (to its own ``+P`` receiver, named in qrscp's ``--destinations`` file) and
  ``getscu`` query and retrieve; SIGTERM ends qrscp with status 0 and a restarted qrscp on the
  same folder still answers DCMTK's ``findscu``.
  (``test_dcmtk_qrscp.py`` covers the same SCP in a thread, query by query.)
* DCMTK ``storescu`` -> a ``pynetdicom2-storescp`` process with ``--filepath`` and
  ``--accept``: files where the template says, an unlisted calling AE title refused, no
  temporary file left after SIGTERM. (Plain ``storescp`` with DCMTK is in
  ``test_dcmtk_apps.py``.)

DCMTK runs through the ``dcmtk`` fixture (TCP_NODELAY=1, a timeout on every run); the servers
through :class:`test_app_processes.ServerProcess` (ready on their "listening on" line, killed
at the end whatever happens).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from test_app_processes import all_files, stop_cleanly

from .test_dcmtk_qrscp import keys

pytestmark = pytest.mark.interop

AET = 'QRSCP'
SAMPLES = ('implicit_le', 'explicit_le', 'explicit_be')
TIMEOUTS = ['-to', '10', '-ta', '10', '-td', '10']


def by_uid(directory: Path) -> dict[str, Path]:
    """SOPInstanceUID -> file, for every stored file in ``directory``: not qrscp's index, nor
    the hidden files a running server stages data sets in (they come and go)."""
    return {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
            for p in all_files(directory)
            if p.name != 'index.sqlite' and not p.name.startswith('.')}


def test_dcmtk_tools_against_qrscp_process(dcmtk, free_port, sample_of, assert_same, tmp_path,
                                           start_server):
    dcmtk.require('echoscu', 'storescu', 'findscu', 'movescu', 'getscu')
    samples = [sample_of(name) for name in SAMPLES]
    pacs = tmp_path / 'pacs'
    pacs.mkdir()
    movescu_port = free_port()
    ini = tmp_path / 'destinations.ini'
    ini.write_text(f'[destinations]\nMOVESCU = 127.0.0.1:{movescu_port}\n')
    args = ['-aet', AET, '-od', pacs, '--destinations', ini, '-ta', '10', '-td', '10']
    qrscp = start_server('qrscp', *args)
    port = qrscp.port

    echo = dcmtk.run('echoscu', '-aec', AET, *TIMEOUTS, '127.0.0.1', port)
    assert echo.returncode == 0, echo.explain()
    stored = dcmtk.run('storescu', '-aec', AET, *TIMEOUTS, '127.0.0.1', port,
                       *[s.path for s in samples])
    assert stored.returncode == 0, stored.explain()
    assert set(by_uid(pacs)) == {str(s.sop_instance_uid) for s in samples}

    found = dcmtk.run('findscu', '-v', '-S', '-aec', AET, *TIMEOUTS,
                      *keys('STUDY', PatientName='M?ller*', StudyInstanceUID=''),
                      '127.0.0.1', port)
    assert found.returncode == 0, found.explain()
    assert found.output.count('(Pending)') == len(samples), found.explain()

    target = samples[1]
    study = str(dcmread(target.path, stop_before_pixels=True).StudyInstanceUID)
    moved_dir = tmp_path / 'moved'
    moved_dir.mkdir()
    moved = dcmtk.run('movescu', '-v', '-S', '-aet', 'MOVESCU', '-aec', AET, '-aem', 'MOVESCU',
                      '+P', movescu_port, '-od', moved_dir, *TIMEOUTS,
                      *keys('STUDY', StudyInstanceUID=study), '127.0.0.1', port)
    assert moved.returncode == 0, moved.explain()
    assert 'Received Final Move Response (Success)' in moved.output, moved.explain()
    moved_files = by_uid(moved_dir)
    assert list(moved_files) == [str(target.sop_instance_uid)]
    assert_same(target, moved_files[str(target.sop_instance_uid)], same_syntax=False)

    got_dir = tmp_path / 'got'
    got_dir.mkdir()
    got = dcmtk.run('getscu', '-v', '-P', '-aec', AET, '-od', got_dir, *TIMEOUTS,
                    *keys('PATIENT', PatientID='INTEROP-1'), '127.0.0.1', port)
    assert got.returncode == 0, got.explain()
    assert f'Number of Completed Suboperations : {len(samples)}' in got.output, got.explain()
    assert set(by_uid(got_dir)) == {str(s.sop_instance_uid) for s in samples}

    stop_cleanly(qrscp)

    # A new process over the same folder: its index still holds the three studies.
    qrscp = start_server('qrscp', *args)
    assert f'({len(samples)} instances indexed' in qrscp.log(), qrscp.log()
    again = dcmtk.run('findscu', '-v', '-S', '-aec', AET, *TIMEOUTS,
                      *keys('STUDY', PatientID='INTEROP-1', StudyInstanceUID=''),
                      '127.0.0.1', qrscp.port)
    assert again.returncode == 0, again.explain()
    assert again.output.count('(Pending)') == len(samples), again.explain()
    stop_cleanly(qrscp)


def test_dcmtk_storescu_to_storescp_process(dcmtk, sample_of, assert_same, tmp_path, start_server):
    dcmtk.require('storescu')
    samples = [sample_of(name) for name in SAMPLES]
    out = tmp_path / 'out'
    out.mkdir()
    storescp = start_server('storescp', '-aet', 'OURSCP', '-od', out, '--accept', 'STORESCU',
                      '--filepath', '{Modality}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm')
    port = storescp.port

    stored = dcmtk.run('storescu', '-aec', 'OURSCP', *TIMEOUTS, '127.0.0.1', port,
                       *[s.path for s in samples])  # DCMTK's default calling AE: STORESCU
    assert stored.returncode == 0, stored.explain()

    refused = dcmtk.run('storescu', '-aet', 'INTRUDER', '-aec', 'OURSCP', *TIMEOUTS,
                        '127.0.0.1', port, samples[0].path)
    assert refused.returncode != 0, refused.explain()
    assert 'Association Rejected' in refused.output, refused.explain()

    stop_cleanly(storescp)
    expected = {}
    for sample in samples:
        ds = dcmread(sample.path, stop_before_pixels=True)
        expected[out / ds.Modality / ds.SeriesInstanceUID / sample.stored_name] = sample
    assert all_files(out) == sorted(expected)  # nothing else: no temporary file left
    for path, sample in expected.items():  # DCMTK may convert to a syntax it proposed first
        assert_same(sample, path, same_syntax=False)
