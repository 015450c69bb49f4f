"""A script written for the original pynetdicom2 API runs unchanged against this library.

The script (tests/compat/original_api_script.py) runs in this process, so the thread check
of conftest covers it. The only thing the test changes is where the script's AE listens:
its ``AE('MYSCP', port)`` would bind every interface, and tests stay on 127.0.0.1.
"""

from __future__ import annotations

import runpy
import socket
import sys
from pathlib import Path

from pynetdicom2 import applicationentity

SCRIPT = Path(__file__).parent / 'compat' / 'original_api_script.py'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def test_original_api_script_runs_unchanged(monkeypatch, capsys):
    monkeypatch.setitem(applicationentity.AE.__init__.__kwdefaults__, 'host', '127.0.0.1')
    monkeypatch.setattr(sys, 'argv', [str(SCRIPT), str(free_port())])
    runpy.run_path(str(SCRIPT), run_name='__main__')
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        'echo (0x0) Success: - True',
        'store dataset (0x0) Success: -',
        'store file (0x0) Success: -',
        'rejected 1 1 3',
        'received 2',
    ]
