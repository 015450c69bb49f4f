"""A hook refuses with ``EventHandlingError(status=...)``: the service answers that failure.

Without a status each service answers its own failure; a code that is not a failure of the
service (success, pending, a warning) is not sent: the default is, with a warning.
"""

from __future__ import annotations

import logging
import os

import pytest
from pydicom.dataset import Dataset

import pynetdicom2
from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.exceptions import EventHandlingError
from pynetdicom2.loopback import LoopbackSCP, make_dataset, query
from pynetdicom2.qrscp import QRSCP

FIND = uids.STUDY_ROOT_FIND_SOP_CLASS


class Refusing(LoopbackSCP):
    """Refuses every request with ``self.status`` (None: the service's default)."""

    status: int | None = None

    def _refuse(self) -> None:
        raise EventHandlingError('refused by the test', status=self.status)

    def on_receive_echo(self, context):
        self._refuse()

    def on_receive_store(self, context, ds):
        self._refuse()

    def on_receive_find(self, context, ds):
        self._refuse()

    def on_receive_get(self, context, ds):
        self._refuse()

    def on_receive_move(self, context, ds, destination):
        self._refuse()


def final_find_status(remote, identifier: Dataset) -> int:
    client = ae.ClientAE('SCU').add_scu(sc.qr_find_scu)
    with client.request_association(remote) as assoc:
        return int([status for _, status in assoc.get_scu(FIND)(identifier, 1)][-1])


@pytest.mark.parametrize(('chosen', 'answered'), [
    (None, 0xC000),       # the service's own failure
    (0xA700, 0xA700),     # out of resources
    (0xA900, 0xA900),     # identifier does not match SOP class
    (0xFF00, 0xC000),     # pending is not a failure: ignored
    (0x0000, 0xC000),     # nor is success
])
def test_c_find(tmp_path, chosen, answered, caplog):
    with Refusing(tmp_path) as scp:
        scp.status = chosen
        assert final_find_status(scp.remote, query('STUDY', PatientID='')) == answered
    ignored = [r for r in caplog.records if 'not a failure of' in r.getMessage()]
    assert bool(ignored) == (chosen in (0xFF00, 0x0000))


@pytest.mark.parametrize(('chosen', 'answered'), [(None, 0xC000), (0xA700, 0xA700)])
def test_c_store_refusal_keeps_no_file(tmp_path, chosen, answered):
    with Refusing(tmp_path / 'scp') as scp:
        scp.status = chosen
        assert int(pynetdicom2.store('SCU', scp.remote, make_dataset())) == answered
        assert scp.stored_files() == []
    assert [name for name in os.listdir(tmp_path / 'scp') if name.endswith('.part')] == []


@pytest.mark.parametrize(('chosen', 'answered'), [(None, 0x0110), (0xC001, 0xC001)])
def test_c_echo(tmp_path, chosen, answered):
    with Refusing(tmp_path) as scp:
        scp.status = chosen
        assert int(pynetdicom2.verify('SCU', scp.remote)) == answered


def test_c_move_and_c_get(tmp_path):
    identifier = query('STUDY', StudyInstanceUID='1.2')
    with Refusing(tmp_path) as scp:
        scp.status = 0xA900
        with scp.client('SCU').associate() as assoc:
            moved = list(assoc.get_scu(uids.STUDY_ROOT_MOVE_SOP_CLASS)(identifier, 'ANY', 1))
            got = assoc.get_scu(uids.STUDY_ROOT_GET_SOP_CLASS)(identifier, 3)
            assert list(got) == []
    assert int(moved[-1][0]) == 0xA900
    assert int(got.status) == 0xA900


def test_qrscp_answers_a900_for_a_level_its_model_lacks(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger='pynetdicom2')
    with QRSCP(tmp_path, 'QRSCP', 0, host='127.0.0.1') as scp:
        remote = {'aet': 'QRSCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        # PS3.4 C.6.2: the Study Root model has no PATIENT level.
        assert final_find_status(remote, query('PATIENT', PatientID='')) == 0xA900
