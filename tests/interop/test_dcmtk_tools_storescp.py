"""The new flags of our storage tools against DCMTK 3.6's, both directions.

* DCMTK ``storescu`` -> a ``pynetdicom2-storescp`` process with ``-su``, ``-fe``, ``-xcr``
  and ``--require-called-aet``: files in ``PREFIX_<StudyInstanceUID>`` folders with the
  extension asked for, DCMTK's calling AE title in their file meta, one command per file with
  DCMTK's placeholders (all run by the time SIGTERM has ended the server), and a wrong called
  AE title rejected (1/1/7);
* ``pynetdicom2-storescu`` -> DCMTK ``storescp``: ``-R`` makes one association for files of
  three transfer syntaxes (three without it); a SOP class DCMTK's storescp refuses halts the
  run (nothing more sent), ``-nh`` sends the others.
"""

from __future__ import annotations

import json
import shlex
import sys

import pytest
from pydicom import dcmread
from test_app_processes import all_files, stop_cleanly

from pynetdicom2 import apps
from pynetdicom2.loopback import make_dataset, write_dataset

from .conftest import PEER_TIMEOUT

pytestmark = pytest.mark.interop

SAMPLES = ('implicit_le', 'explicit_le', 'explicit_be')
TIMEOUTS = ['-to', str(PEER_TIMEOUT), '-ta', str(PEER_TIMEOUT), '-td', str(PEER_TIMEOUT)]

RECORD = """\
import json, sys
with open(sys.argv[1], 'a', encoding='utf-8') as fp:
    fp.write(json.dumps(sys.argv[2:]) + '\\n')
"""


def test_dcmtk_storescu_to_our_storescp_sorting_and_running_a_command(
        dcmtk, sample_of, tmp_path, start_server):
    dcmtk.require('storescu')
    samples = [sample_of(name) for name in SAMPLES]
    out = tmp_path / 'out'
    out.mkdir()
    script = tmp_path / 'record.py'
    script.write_text(RECORD)
    log = tmp_path / 'commands.log'
    command = shlex.join([sys.executable, str(script), str(log)]) + ' #p #f #a #c #r'
    server = start_server('storescp', '-aet', 'OURSCP', '-od', out, '-su', 'ST', '-fe', '.dcm',
                          '-xcr', command, '--require-called-aet')

    wrong = dcmtk.run('storescu', '-aet', 'DCMTKSCU', '-aec', 'SOMEONE', '-ta', '10',
                      '127.0.0.1', server.port, samples[0].path)
    assert wrong.returncode != 0, wrong.explain()
    assert 'Called AE Title Not Recognized' in wrong.output, wrong.explain()

    stored = dcmtk.run('storescu', '-aet', 'DCMTKSCU', '-aec', 'OURSCP', '-ta', '10',
                       '127.0.0.1', server.port, *[s.path for s in samples])
    assert stored.returncode == 0, stored.explain()
    stop_cleanly(server)  # the commands still queued run before it exits

    expected = {f'ST_{dcmread(s.path).StudyInstanceUID}/{s.sop_instance_uid}.dcm'
                for s in samples}
    assert {p.relative_to(out).as_posix() for p in all_files(out)} == expected
    for path in all_files(out):
        assert dcmread(path).file_meta.SourceApplicationEntityTitle == 'DCMTKSCU'
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(f'{run[0]}/{run[1]}' for run in runs) == sorted(
        str(out / name) for name in expected)
    assert {tuple(run[2:]) for run in runs} == {('DCMTKSCU', 'OURSCP', '127.0.0.1')}


def test_our_storescu_required_makes_one_association_with_dcmtk_storescp(
        dcmtk, free_port, sample_of, tmp_path, capsys):
    samples = [sample_of(name) for name in SAMPLES]
    out = tmp_path / 'out'
    out.mkdir()
    port = free_port()
    with dcmtk.server('storescp', '-v', '-aet', 'DCMTKSCP', '+xa', '-od', out,
                      port=port) as server:
        argv = ['-aec', 'DCMTKSCP', *TIMEOUTS, '127.0.0.1', str(port),
                *(str(s.path) for s in samples)]
        assert apps.storescu(argv) == 0, server.log()
        assert server.log().count('Association Acknowledged') == 3
        assert apps.storescu(['-R', *argv]) == 0, server.log()
        assert server.log().count('Association Acknowledged') == 4, server.log()
    assert capsys.readouterr().out.splitlines() == ['sent 3, failed 0, skipped 0'] * 2


def test_our_storescu_halts_where_dcmtk_storescp_refuses_a_class(
        dcmtk, free_port, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    unknown = write_dataset(make_dataset('1.2.3.4.5.6'), tmp_path)  # no storage class
    known = write_dataset(make_dataset(), tmp_path)
    port = free_port()
    with dcmtk.server('storescp', '-aet', 'DCMTKSCP', '-od', out, port=port) as server:
        argv = ['-aec', 'DCMTKSCP', *TIMEOUTS, '127.0.0.1', str(port), str(unknown), str(known)]
        assert apps.storescu(argv) == 1, server.log()
        captured = capsys.readouterr()
        assert captured.out.strip() == 'sent 0, failed 1, skipped 0, not sent 1'
        assert 'peer refused 1.2.3.4.5.6' in captured.err
        assert list(out.iterdir()) == []
        assert apps.storescu(['-nh', *argv]) == 1, server.log()
        assert capsys.readouterr().out.strip() == 'sent 1, failed 1, skipped 0'
    assert len(list(out.iterdir())) == 1
