"""The pytest plugin :mod:`pynetdicom2.testing` and the loopback SCP/client under it.

The fixtures are used directly here (the plugin is loaded through the ``pytest11`` entry
point of the installed package), and through ``pytester`` to check how a user's suite sees
them: auto-loaded, switched off with ``-p no:pynetdicom2``, or enabled by hand.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from pynetdicom2 import uids
from pynetdicom2.exceptions import AssociationRejectedError
from pynetdicom2.loopback import LoopbackSCP, make_study, query

pytest_plugins = ['pytester']


# --- the fixtures, used directly ----------------------------------------------------------------


def test_scp_says_where_it_is(dicom_scp):
    assert dicom_scp.address == '127.0.0.1'
    assert dicom_scp.port > 0
    assert dicom_scp.ae_title == 'LOOPBACK'
    assert (dicom_scp.remote.aet, dicom_scp.remote.port) == ('LOOPBACK', dicom_scp.port)
    assert dicom_scp.storage_dir.is_dir()


def test_echo_and_store_are_recorded(dicom_scp, dicom_client, dicom_dataset):
    assert dicom_client.echo().is_success
    ds = dicom_dataset(PatientID='P1', pixels=True)
    mr = dicom_dataset(uids.MR_IMAGE_STORAGE, PatientID='P1')
    assert all(status.is_success for status in dicom_client.store(ds, mr))
    assert [r.command for r in dicom_scp.requests] == ['C-ECHO', 'C-STORE', 'C-STORE']
    assert {r.calling_aet for r in dicom_scp.requests} == {'LOOPBACK-SCU'}
    assert dicom_scp.requests[2].sop_class == uids.MR_IMAGE_STORAGE
    assert [d.SOPInstanceUID for d in dicom_scp.received] == [ds.SOPInstanceUID, mr.SOPInstanceUID]
    assert len(dicom_scp.associations) == 2
    record = dicom_scp.associations[0]
    assert (record.calling_aet, record.called_aet, record.address) == (
        'LOOPBACK-SCU', 'LOOPBACK', '127.0.0.1'
    )
    assert sorted(p.name for p in dicom_scp.stored_files()) == sorted(
        [f'{ds.SOPInstanceUID}.dcm', f'{mr.SOPInstanceUID}.dcm']
    )


def test_storing_an_instance_again_replaces_it(dicom_scp, dicom_client, dicom_dataset):
    ds = dicom_dataset(PatientName='Before')
    dicom_client.store(ds)
    ds.PatientName = 'After'
    dicom_client.store(ds)
    assert len(dicom_scp.stored_files()) == 1
    matches = dicom_client.find(query('PATIENT', PatientName=''),
                                uids.PATIENT_ROOT_FIND_SOP_CLASS)
    assert [str(m.PatientName) for m in matches] == ['After']


def test_find_at_each_level(dicom_scp, dicom_client):
    first = make_study(series=2, instances=2, PatientID='P1', PatientName='Doe^Jane')
    second = make_study(series=1, instances=1, PatientID='P2', PatientName='Roe^Rick',
                        StudyDate='20230505')
    dicom_client.store(*first)
    dicom_scp.add(*second)  # directly on disk: found all the same

    def found(level, **keys):
        return dicom_client.find(query(level, **keys))

    assert len(found('STUDY', StudyInstanceUID='')) == 2
    assert [m.PatientID for m in found('STUDY', PatientName='Doe*', PatientID='')] == ['P1']
    assert len(found('SERIES', StudyInstanceUID=first[0].StudyInstanceUID,
                     SeriesInstanceUID='')) == 2
    assert len(found('IMAGE', StudyInstanceUID=first[0].StudyInstanceUID,
                     SOPInstanceUID='')) == 4
    assert [m.PatientID for m in found('STUDY', StudyDate='20230101-20231231',
                                       PatientID='')] == ['P2']
    match = found('STUDY', PatientID='P2', StudyDescription='', StudyInstanceUID='')[0]
    assert match.StudyDescription == 'pynetdicom2 test study'
    assert match.QueryRetrieveLevel == 'STUDY'
    assert [r.command for r in dicom_scp.requests].count('C-FIND') == 6


def test_get_and_move(dicom_scp, dicom_client, tmp_path):
    study = make_study(series=1, instances=3)
    dicom_scp.add(*study)
    request = query('STUDY', StudyInstanceUID=study[0].StudyInstanceUID)
    got = dicom_client.get(request)
    assert (got.num_of_completed_sub_ops, got.num_of_failed_sub_ops) == (3, 0)
    assert len(list(dicom_client.storage_dir.glob('*.dcm'))) == 3
    with LoopbackSCP(tmp_path / 'dest', 'DEST') as destination:
        dicom_scp.destinations['DEST'] = destination.remote
        moved = dicom_client.move(request, 'DEST')
        assert moved.num_of_completed_sub_ops == 3
        assert len(destination.received) == 3
        assert {r.calling_aet for r in destination.requests} == {'LOOPBACK'}
    assert dicom_scp.requests[-1].destination == 'DEST'
    assert [r.command for r in dicom_scp.requests] == ['C-GET', 'C-MOVE']


def test_rejections(dicom_scp, dicom_client):
    dicom_scp.calling_aets = {'SOMEONE'}
    with pytest.raises(AssociationRejectedError) as raised:
        dicom_client.echo()
    assert (raised.value.result, raised.value.source, raised.value.diagnostic) == (1, 1, 3)
    dicom_scp.calling_aets = None
    other = dicom_scp.client()
    other.remote = {'aet': 'WRONG', 'address': dicom_scp.address, 'port': dicom_scp.port}
    with pytest.raises(AssociationRejectedError) as raised:
        other.echo()
    assert raised.value.diagnostic == 7
    assert dicom_scp.requests == [] and len(dicom_scp.associations) == 2


def test_helpers_are_importable_from_the_plugin(dicom_dataset):
    from pynetdicom2 import testing

    assert testing.make_dataset is dicom_dataset
    assert testing.query('SERIES').QueryRetrieveLevel == 'SERIES'
    with pytest.raises(AttributeError):
        testing.no_such_helper  # noqa: B018


# --- the plugin as a user's suite sees it --------------------------------------------------------

USER_TESTS = """
import pynetdicom2

def test_store_then_find(dicom_scp, dicom_client, dicom_dataset):
    dicom_client.store(dicom_dataset(PatientID='U1'))
    assert dicom_scp.received[0].PatientID == 'U1'
    assert pynetdicom2.verify('MINE', dicom_scp.remote).is_success
    assert [r.command for r in dicom_scp.requests] == ['C-STORE', 'C-ECHO']

def test_each_test_has_its_own_scp(dicom_scp):
    assert dicom_scp.requests == [] and dicom_scp.stored_files() == []
"""


def test_auto_loaded_in_a_users_suite(pytester):
    pytester.makepyfile(USER_TESTS)
    pytester.runpytest_inprocess('-p', 'no:cacheprovider').assert_outcomes(passed=2)


def test_switched_off_and_enabled_by_hand(pytester):
    pytester.makepyfile(USER_TESTS)
    off = pytester.runpytest_inprocess('-p', 'no:cacheprovider', '-p', 'no:pynetdicom2')
    off.assert_outcomes(errors=2)
    off.stdout.fnmatch_lines(["*fixture 'dicom_scp' not found*"])
    by_hand = pytester.runpytest_inprocess(
        '-p', 'no:cacheprovider', '-p', 'no:pynetdicom2', '-p', 'pynetdicom2.testing'
    )
    by_hand.assert_outcomes(passed=2)


def test_the_plugin_defines_no_autouse_fixture_and_loads_lazily():
    code = (
        'import sys, pynetdicom2.testing as t\n'
        'assert "pynetdicom2.loopback" not in sys.modules\n'
        'marks = [getattr(getattr(t, n), "_fixture_function_marker", None) or '
        'getattr(getattr(t, n), "_pytestfixturefunction", None) for n in t.__all__]\n'
        'print(all(m is not None and not m.autouse for m in marks))\n'
    )
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'True'
