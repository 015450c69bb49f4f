"""``python -m pynetdicom2 demo`` (:mod:`pynetdicom2.demo`): the README's "run it" command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pynetdicom2 import demo
from pynetdicom2.exceptions import NetDICOMError

# pydicom's sample rtdose.dcm has a UID it finds invalid; that is pydicom's business.
pytestmark = pytest.mark.filterwarnings('ignore::UserWarning')


def test_run_reports_every_service(tmp_path):
    lines = list(demo.run(tmp_path))
    text = '\n'.join(lines)
    for service in ('C-ECHO', 'C-STORE', 'C-FIND', 'C-MOVE', 'C-GET'):
        assert any(line.startswith(service) for line in lines), text
    stored = len(demo.sample_datasets())
    assert f'{stored} completed, 0 failed' in text
    assert lines[-1].startswith('all 5 services worked')
    for folder in ('archive', 'moved', 'retrieved'):
        assert len(list((tmp_path / folder).glob('*.dcm'))) == stored


def test_generated_data_when_pydicom_has_no_samples(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, 'SAMPLE_FILES', ('no-such-file.dcm',))
    lines = list(demo.run(tmp_path))
    assert 'generated DEMO1/1' in '\n'.join(lines)
    assert any(line.startswith('C-FIND') and '2 studies' in line for line in lines)


def test_a_failing_step_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(demo.LoopbackSCP, 'on_receive_get',
                        lambda self, context, ds: (1, iter(['/nonexistent.dcm'])))
    with pytest.raises(NetDICOMError, match='retrieves'):
        list(demo.run(tmp_path))


def test_python_dash_m_pynetdicom2_demo():
    done = subprocess.run([sys.executable, '-m', 'pynetdicom2', 'demo'],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ''
    assert 'all 5 services worked' in done.stdout
