"""Our DCMTK-style tools against DCMTK's: the same flags, both directions.

* DCMTK ``echoscu`` and ``storescu`` -> ``pynetdicom2-storescp`` (a real process, stopped
  with SIGTERM, which must end it cleanly with status 0);
* ``pynetdicom2-echoscu`` and ``pynetdicom2-storescu`` -> DCMTK ``storescp``, every sample
  transfer syntax in one run (one association per transfer syntax, files sent as they are).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from pynetdicom2 import apps

from .conftest import PEER_TIMEOUT, stop_process, wait_until_listening

pytestmark = pytest.mark.interop

STORESCP = [sys.executable, '-c', 'from pynetdicom2.apps import storescp_main; storescp_main()']


def test_dcmtk_scus_to_our_storescp(dcmtk, free_port, sample_of, assert_same, tmp_path):
    dcmtk.require('echoscu', 'storescu')
    out = tmp_path / 'out'
    out.mkdir()
    port = free_port()
    log = tmp_path / 'storescp.log'
    with open(log, 'wb') as log_file:
        process = subprocess.Popen(
            [*STORESCP, '-v', '-aet', 'OURSCP', '-od', str(out), '--bind', '127.0.0.1',
             str(port)],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_listening(port, process, log)
        echo = dcmtk.run('echoscu', '-aec', 'OURSCP', '127.0.0.1', port)
        assert echo.returncode == 0, echo.output
        sample = sample_of('explicit_le')
        store = dcmtk.run('storescu', '-R', '-aec', 'OURSCP', '127.0.0.1', port, sample.path)
        assert store.returncode == 0, store.output
    finally:
        code = stop_process(process)
    assert code == 0, log.read_text(errors='replace')
    assert_same(sample, out / sample.stored_name)


def test_our_scus_to_dcmtk_storescp(dcmtk, free_port, samples, capsys, tmp_path):
    made = [sample for sample in samples.values() if not isinstance(sample, str)]
    out = tmp_path / 'storescp'
    out.mkdir()
    port = free_port()
    timeouts = ['-to', str(PEER_TIMEOUT), '-ta', str(PEER_TIMEOUT), '-td', str(PEER_TIMEOUT)]
    with dcmtk.server('storescp', '-v', '-aet', 'DCMTKSCP', '+xa', '-od', out,
                      port=port) as server:
        assert apps.echoscu(['-aec', 'DCMTKSCP', *timeouts, '127.0.0.1', str(port)]) == 0
        code = apps.storescu(['-aec', 'DCMTKSCP', *timeouts, '127.0.0.1', str(port),
                              *(str(sample.path) for sample in made)])
        assert code == 0, f'{capsys.readouterr()}\n{server.log()}'
    assert capsys.readouterr().out.strip() == f'sent {len(made)}, failed 0, skipped 0'
    received = {name.split('.', 1)[1] for name in (f.name for f in out.iterdir())}
    assert received == {str(sample.sop_instance_uid) for sample in made}
