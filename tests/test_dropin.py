"""Scripts written for pynetdicom2 0.9 work unchanged: its top-level names and its recipes.

Each test follows one recipe the original documents, in the original's own style (AEs with
ports, ``update_context_def_list``, ``add_scp(StorageCommitment())``, a lock of its own), on
loopback. The same recipes against DCMTK and pynetdicom are in tests/interop.
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import threading

import pydicom
import pytest
from aetools import fast, remote, serving
from pydicom.uid import generate_uid

import pynetdicom2
from pynetdicom2 import applicationentity as ae
from pynetdicom2 import negotiation, statuses, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.loopback import LoopbackSCP, make_study, query

#: Every top-level name of the original package (0.9.x), and the module each comes from.
ORIGINAL_TOP_LEVEL = {
    'AE': 'applicationentity',
    'AssociationAcceptor': 'asceprovider',
    'AssociationRequester': 'asceprovider',
    'CMoveResponse': 'commands',
    'ClientAE': 'applicationentity',
    'ClientStorageAE': 'applicationentity',
    'PContextDef': 'asceprovider',
    'PROCESSING_FAILURE': 'statuses',
    'SUCCESS': 'statuses',
    'Status': 'statuses',
    'StorageAE': 'applicationentity',
    'StorageCommitment': 'sopclass',
    'find': 'commands',
    'modality_work_list_scp': 'sopclass',
    'modality_work_list_scu': 'sopclass',
    'move': 'commands',
    'qr_find_scp': 'sopclass',
    'qr_find_scu': 'sopclass',
    'qr_get_scu': 'sopclass',
    'qr_move_scp': 'sopclass',
    'qr_move_scu': 'sopclass',
    'storage': 'commands',
    'storage_commitment_scu': 'sopclass',
    'storage_scp': 'sopclass',
    'storage_scu': 'sopclass',
    'store': 'commands',
    'verification_scp': 'sopclass',
    'verification_scu': 'sopclass',
    'verify': 'commands',
}
ORIGINAL_MODULES = (
    'applicationentity', 'asceprovider', 'commands', 'dimsemessages', 'dsutils', 'dulprovider',
    'exceptions', 'fsm', 'pdu', 'sopclass', 'statuses', 'uids', 'userdataitems',
)
OURS = ('get', '__version__')

STUDY = '1.2.826.0.1.3680043.8.498.4242'
GET_TIMEOUT = 5.0


# --- 1. the package top level ------------------------------------------------------------------


def test_the_first_line_of_an_original_script_imports():
    from pynetdicom2 import ClientAE, uids, verification_scu  # noqa: F401, F811


@pytest.mark.parametrize(('name', 'home'), sorted(ORIGINAL_TOP_LEVEL.items()))
def test_each_top_level_name_is_its_home_modules_object(name, home):
    assert getattr(pynetdicom2, name) is getattr(importlib.import_module(f'pynetdicom2.{home}'),
                                                 name)


@pytest.mark.parametrize('name', ORIGINAL_MODULES)
def test_each_original_module_is_a_top_level_name(name):
    assert getattr(pynetdicom2, name) is importlib.import_module(f'pynetdicom2.{name}')


def test_dir_and_all_list_exactly_the_originals_names_and_ours():
    expected = {*ORIGINAL_TOP_LEVEL, *ORIGINAL_MODULES, *OURS}
    assert len(expected) == 42 + len(OURS)
    assert set(pynetdicom2.__all__) == expected
    assert expected <= set(dir(pynetdicom2))
    namespace: dict = {}
    exec('from pynetdicom2 import *', namespace)
    assert expected - {'__version__'} <= set(namespace)


# --- 2. C-GET the original's way: contexts from update_context_def_list ------------------------


def _pacs(tmp_path, **kwargs):
    pacs = LoopbackSCP(tmp_path / 'pacs', **kwargs)
    pacs.add(*make_study(instances=2, StudyInstanceUID=STUDY))
    return pacs


def test_get_into_contexts_registered_with_update_context_def_list(tmp_path):
    client = fast(ae.ClientStorageAE(tmp_path / 'in', 'GETSCU'))
    client.update_context_def_list([uids.CT_IMAGE_STORAGE], store_in_file=True)
    client.add_scu(sc.qr_get_scu)
    with _pacs(tmp_path) as pacs, client.request_association(pacs.remote) as assoc:
        roles = {(r.sop_class_uid, r.scu_role, r.scp_role) for r in assoc._roles}
        get = assoc.get_scu(uids.STUDY_ROOT_GET_SOP_CLASS)(query('STUDY', StudyInstanceUID=STUDY),
                                                           1)
        received = list(get)
    assert (uids.CT_IMAGE_STORAGE, 0, 1) in roles
    assert get.status.is_success and len(received) == 2
    assert len(os.listdir(tmp_path / 'in')) == 2


def test_failed_get_sub_operations_name_the_class_without_a_context(tmp_path, caplog):
    client = fast(ae.ClientStorageAE(tmp_path / 'in', 'GETSCU'))
    client.update_context_def_list([uids.CT_IMAGE_STORAGE], store_in_file=True)
    client.add_scu(sc.qr_get_scu)
    caplog.set_level(logging.WARNING, logger='pynetdicom2')
    with _pacs(tmp_path) as pacs:
        pacs.supported_scu.pop(uids.CT_IMAGE_STORAGE)
        with client.request_association(pacs.remote) as assoc:
            get = assoc.get_scu(uids.STUDY_ROOT_GET_SOP_CLASS)(
                query('STUDY', StudyInstanceUID=STUDY), 1)
            assert list(get) == []
    assert get.response.num_of_failed_sub_ops == 2
    ours = [r.getMessage() for r in caplog.records if 'C-GET ended with 2 failed' in r.getMessage()]
    assert len(ours) == 1, caplog.text
    assert f'CT Image Storage {uids.CT_IMAGE_STORAGE}' in ours[0].split('refused by')[1]


def test_a_get_scu_with_every_storage_class_still_fits_in_128_contexts(caplog):
    """The original's AE registers storage_scp (all its storage classes) next to qr_get_scu:
    the association proposes what fits, the rarest classes left out and logged."""
    classes = [*uids.STORAGE_SOP_CLASSES, uids.STUDY_ROOT_GET_SOP_CLASS,
               uids.VERIFICATION_SOP_CLASS]
    registry = [(uid, ['1.2.840.10008.1.2']) for uid in classes]
    caplog.set_level(logging.INFO, logger='pynetdicom2.negotiation')
    proposal, roles = negotiation.select_proposal(
        registry, {uids.STUDY_ROOT_GET_SOP_CLASS, uids.VERIFICATION_SOP_CLASS},
        set(uids.STORAGE_SOP_CLASSES))
    assert len(proposal) == 128 and max(proposal) == 255
    proposed = {ctx.sop_class for ctx in proposal.values()}
    assert {uids.STUDY_ROOT_GET_SOP_CLASS, uids.VERIFICATION_SOP_CLASS,
            uids.CT_IMAGE_STORAGE, uids.MR_IMAGE_STORAGE} <= proposed
    left_out = set(uids.STORAGE_SOP_CLASSES) - proposed
    assert len(left_out) == len(uids.STORAGE_SOP_CLASSES) - 126
    assert '1.2.840.10008.5.1.4.1.1.129' in left_out  # retired: among the first to go
    assert all(negotiation.rarely_received(uid) for uid in left_out)
    assert {r.sop_class_uid for r in roles} == proposed & set(uids.STORAGE_SOP_CLASSES)
    assert 'do not fit' in caplog.text


# --- 3. C-GET into a plain AE with a store-in-file storage SCP ---------------------------------


class Reader(ae.AE):
    """The original's recipe: a plain AE whose on_receive_store reads the file it is given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: list[str] = []

    def on_receive_store(self, context, ds):
        self.read.append(pydicom.dcmread(ds).SOPInstanceUID)
        return statuses.SUCCESS


def test_get_into_a_plain_ae_whose_hook_reads_the_file(tmp_path):
    client = fast(Reader('GETSCU', 0, host='127.0.0.1', bind_and_activate=False))
    client.add_scu(sc.qr_get_scu).add_scp(sc.storage_scp)
    try:
        with _pacs(tmp_path) as pacs, client.request_association(pacs.remote) as assoc:
            get = assoc.get_scu(uids.STUDY_ROOT_GET_SOP_CLASS)(
                query('STUDY', StudyInstanceUID=STUDY), 1)
            received = list(get)
    finally:
        client.quit()
    assert get.status.is_success, get.response
    assert len(received) == 2 and len(client.read) == 2
    assert sorted(client.read) == sorted(str(p.stem) for p in pacs.stored_files())


def test_a_stored_files_name_is_its_path(tmp_path):
    """The original opened received files by path: ``ds.name`` is a path a hook may log or
    open again (the staged file's, until the data set is kept under its final name)."""
    names: list = []

    class Recorder(ae.StorageAE):
        def on_receive_store(self, context, ds):
            names.append((ds.name, pydicom.dcmread(ds.name).SOPInstanceUID))
            return statuses.SUCCESS

    server = Recorder(tmp_path / 'in', 'SCP', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    ds = make_study(instances=1, StudyInstanceUID=STUDY)[0]
    client = fast(ae.ClientAE('SCU')).add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
    with serving(server), client.request_association(remote(server)) as assoc:
        assert assoc.get_scu(uids.CT_IMAGE_STORAGE)(ds, 1).is_success
    [(name, instance)] = names
    assert isinstance(name, str) and os.path.dirname(name) == str(tmp_path / 'in')
    assert instance == ds.SOPInstanceUID


# --- 4. storage commitment between two AEs of the original's kind ------------------------------


def test_storage_commitment_the_original_way():
    results: queue.Queue = queue.Queue()

    class AE1(ae.AE):
        def on_commitment_response(self, transaction_uid, success, failure):
            results.put((transaction_uid, list(success), list(failure)))

    class AE2(ae.AE):
        def on_commitment_request(self, remote_aet, uids_iter):
            return remote(ae1), list(uids_iter), []

    ae1 = AE1('AE1', 0, host='127.0.0.1')
    ae1.add_scp(sc.StorageCommitment())
    ae1.add_scu(sc.storage_commitment_scu)
    ae2 = AE2('AE2', 0, host='127.0.0.1')
    ae2.add_scp(sc.StorageCommitment())
    transaction, pair = generate_uid(), (uids.CT_IMAGE_STORAGE, generate_uid())
    with serving(ae1), serving(ae2), ae1.request_association(remote(ae2)) as assoc:
        status = assoc.get_scu(uids.STORAGE_COMMITMENT_SOP_CLASS)(transaction, [pair], 1)
        assert status.is_success
        assert results.get(timeout=GET_TIMEOUT) == (transaction, [pair], [])


# --- 6. a lock of the original's type ----------------------------------------------------------


class PlainLockAE(ae.AE):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()  # the original's type: not re-entrant


class PlainLockStorageAE(ae.StorageAE):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()


def _run_within(seconds, work):
    """Run ``work`` in a thread; fail (instead of hanging) if it does not finish in time."""
    outcome: queue.Queue = queue.Queue()

    def target():
        try:
            outcome.put((True, work()))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome.put((False, exc))

    thread = threading.Thread(target=target, name='dropin-lock-test', daemon=True)
    thread.start()
    try:
        ok, value = outcome.get(timeout=seconds)
    except queue.Empty:
        pytest.fail('deadlock: the AE re-entered its own lock')
    thread.join()
    if not ok:
        raise value
    return value


def test_a_plain_lock_does_not_deadlock_registration_or_associations(tmp_path):
    def work():
        server = PlainLockStorageAE(tmp_path / 'in', 'SCP', 0, host='127.0.0.1')
        server.add_scp(sc.verification_scp).add_scp(sc.storage_scp)
        server.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
        client = PlainLockAE('SCU', 0, host='127.0.0.1', bind_and_activate=False)
        client.add_scu(sc.verification_scu).add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
        client.add_scp(sc.storage_scp)
        client.update_context_def_list([uids.MR_IMAGE_STORAGE], store_in_file=True)
        assert client.copy_context_def_list()
        try:
            with serving(server), fast(client).request_association(remote(server)) as assoc:
                echo = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
                stored = assoc.get_scu(uids.CT_IMAGE_STORAGE)(
                    make_study(instances=1, StudyInstanceUID=STUDY)[0], 2)
        finally:
            client.quit()
        return echo, stored

    echo, stored = _run_within(GET_TIMEOUT * 2, work)
    assert echo.is_success and stored.is_success
    assert len(os.listdir(tmp_path / 'in')) == 1
