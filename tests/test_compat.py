"""Scripts written for the original pynetdicom2 (0.9.8) API run unchanged against this library.

Each script in tests/compat/ is what a user of the original writes for one documented usage
pattern: the SCU services of a ClientAE, a StorageAE server, storage
commitment between two AEs, a modality worklist, and the command line. It takes the free
ports it needs as arguments and prints short deterministic lines, compared here.

The scripts run in this process (so the thread check of conftest covers them), with three
changes that leave their text alone:

* an AE of the original listens on every interface (``AE('MYSCP', port)`` binds ``''``):
  here the default ``host`` of ``AE`` and ``StorageAE`` is 127.0.0.1;
* every AE gets the tests' short timeouts (aetools.fast), so a stuck script fails in seconds;
* ``sys.executable`` is a launcher that makes the same host change in the ``python -m
  pynetdicom2`` processes the CLI script starts (``move --local_port`` listens), then runs
  the real interpreter's ``-m pynetdicom2``.
"""

from __future__ import annotations

import contextlib
import runpy
import socket
import sys
from pathlib import Path
from typing import Callable

import pytest
from aetools import fast

from pynetdicom2 import applicationentity

COMPAT = Path(__file__).parent / 'compat'

#: Stands for ``python`` in the CLI script: ``<launcher> -m pynetdicom2 ARGS``.
LAUNCHER = '''#!{python}
"""python -m pynetdicom2, with every AE listening on 127.0.0.1 only (tests/test_compat.py)."""
import operator
import runpy
import sys

sys.path.insert(0, {tests!r})
from test_compat import listen_on_loopback

assert sys.argv[1:3] == ['-m', 'pynetdicom2'], sys.argv
del sys.argv[1:3]
listen_on_loopback(operator.setitem)
runpy.run_module('pynetdicom2', run_name='__main__', alter_sys=True)
'''

ECHO = 'echo (0x0) Success: -'


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 (all probed at once)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(('127.0.0.1', 0))
        return [probe.getsockname()[1] for probe in probes]


def listen_on_loopback(setitem: Callable[[dict, str, str], None]) -> None:
    """Make 127.0.0.1 the default ``host`` of the listening AEs, through ``setitem``."""
    for cls in (applicationentity.AE, applicationentity.StorageAE):
        setitem(cls.__init__.__kwdefaults__, 'host', '127.0.0.1')


@pytest.fixture
def compat(monkeypatch, tmp_path):
    """The three changes of the module docstring (and a check that every AE of this process
    listens on 127.0.0.1), undone after the test."""
    listen_on_loopback(monkeypatch.setitem)
    original_init = applicationentity.AEBase.__init__

    def fast_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        fast(self)

    monkeypatch.setattr(applicationentity.AEBase, '__init__', fast_init)
    server_bind = applicationentity._ThreadingTCPServer.server_bind

    def loopback_bind(server):
        assert server.server_address[0] == '127.0.0.1', f'binds {server.server_address}'
        server_bind(server)

    monkeypatch.setattr(applicationentity._ThreadingTCPServer, 'server_bind', loopback_bind)
    launcher = tmp_path / 'python'
    launcher.write_text(LAUNCHER.format(python=sys.executable, tests=str(Path(__file__).parent)))
    launcher.chmod(0o755)
    monkeypatch.setattr(sys, 'executable', str(launcher))
    return monkeypatch


SCRIPTS = {
    'original_api_script': (1, [
        'echo (0x0) Success: - True',
        'store dataset (0x0) Success: -',
        'store file (0x0) Success: -',
        'rejected 1 1 3',
        'received 2',
    ]),
    'client_ae_script': (2, [
        ECHO,
        'store dataset (0x0) Success: -',
        'store path (0x0) Success: -',
        'find (0x0) Success: -',
        'found P1 Doe^Jane',
        'found P2 Roe^Rick',
        'move (0xFF00) Pending: Sub-operations are continuing 1',
        'move (0xFF00) Pending: Sub-operations are continuing 2',
        'move (0xFF00) Pending: Sub-operations are continuing 3',
        'move (0x0) Success: - 3',
        'moved files 3',
        'get received CT Image Storage file',
        'get received CT Image Storage file',
        'get files [1, 2]',
    ]),
    'storage_ae_script': (1, [
        ECHO,
        'store Dataset CT Image Storage (0x0) Success: -',
        'store Dataset MR Image Storage (0x0) Success: -',
        'store str CT Image Storage (0x0) Success: -',
        'store str MR Image Storage (0x0) Success: -',
        "stored [('CT', 'STORE1', True), ('CT', 'STORE1', True), ('MR', 'STORE1', True), "
        "('MR', 'STORE1', True)]",
    ]),
    'storage_commitment_script': (2, [
        'archive asked by MODALITY for 3',
        'request (0x0) Success: -',
        'same transaction True',
        'committed True',
        'failed [(True, 274)]',  # 0x0112: no such object instance
    ]),
    'worklist_script': (1, [
        'scheduled Doe^John ACC1 CT1',
        'scheduled Poe^Edgar ACC3 CT1',
        'worklist (0x0) Success: -',
    ]),
    'cli_script': (2, [
        'verify (0x0) Success: -',
        'store sent 4, failed 0, skipped 0',
        'find study 1 1',
        "find patient ['P1', 'P2']",
        'move C-MOVE to PYNETDICOM2: completed 2, failed 0, warning 0',
        'moved files 2',
        "calling ['MYSCU']",
    ]),
}


# The scripts save files as a pydicom 2 script does (write_like_original=False), which
# pydicom 3 still takes, with a deprecation warning.
@pytest.mark.filterwarnings('ignore:.write_like_original. is deprecated:DeprecationWarning')
@pytest.mark.parametrize('name', list(SCRIPTS))
def test_script_runs_unchanged(name, compat, capsys):
    ports, expected = SCRIPTS[name]
    script = COMPAT / f'{name}.py'
    compat.setattr(sys, 'argv', [str(script), *map(str, free_ports(ports))])
    runpy.run_path(str(script), run_name='__main__')
    assert capsys.readouterr().out.splitlines() == expected


def test_every_script_is_run():
    assert sorted(path.stem for path in COMPAT.glob('*.py')) == sorted(SCRIPTS)

