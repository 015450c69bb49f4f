"""Query/Retrieve against DCMTK 3.6: its SCUs against our Q/R SCP, our SCUs against dcmqrscp.

Directions covered:

* ``findscu`` -> our Q/R SCP, in the three information models (``-P``, ``-S``, ``-O``), and
  with ``--cancel`` (our SCP answers FE00H);
* ``movescu`` -> our Q/R SCP, with movescu itself as the move destination (``+P``): the files
  that arrive hold the same data sets as the archive's;
* ``getscu`` -> our Q/R SCP: the instances come back on the same association (our C-GET SCP
  stores over the contexts getscu offered with the SCP role);
* our ``qr_find_scu``, ``qr_move_scu`` (to our ``StorageAE``) and ``qr_get_scu`` (into a
  ``ClientStorageAE``) -> ``dcmqrscp``, set up by the test with its own configuration file and
  a small database that ``storescu`` fills.

The archive is three of the session's samples (CT implicit LE, MR explicit LE, CT explicit BE),
one study each, all of patient INTEROP-1.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids

from .conftest import CT_IMAGE_STORAGE, MR_IMAGE_STORAGE

pytestmark = pytest.mark.interop

OUR_AET = 'OURQR'
DCMQRSCP_AET = 'DCMQRSCP'
ARCHIVE_SAMPLES = ('implicit_le', 'explicit_le', 'explicit_be')
#: DCMTK runs: short DIMSE and ACSE timeouts, so a wedged exchange fails in seconds.
TIMEOUTS = ['-to', '10', '-ta', '10', '-td', '10']


class OurArchive(ae.AE):
    """Our Q/R SCP over Part-10 files: matching on the identifier's non-empty keys.

    A key matches by equality, ``*`` and ``?`` wildcards (PS3.4 C.2.2.2.4), or a backslash
    list of UIDs (PS3.4 C.2.2.2.2); the other requested keys are returned (PS3.4 C.2.2.1.2).
    """

    def __init__(self, files: list[Path]) -> None:
        super().__init__(OUR_AET, 0, bind_and_activate=False)
        self.files = files
        self.headers = {path: dcmread(path, stop_before_pixels=True) for path in files}
        self.move_destinations: dict[str, dict] = {}
        self.find_total: int | None = None  # many matches for the cancel test
        for service in (sc.qr_find_scp, sc.qr_move_scp, sc.qr_get_scp, sc.verification_scp):
            self.add_scp(service)
        self.add_scu(sc.storage_scu, [CT_IMAGE_STORAGE, MR_IMAGE_STORAGE])

    @staticmethod
    def _matches(header: Dataset, identifier: Dataset) -> bool:
        for element in identifier:
            if element.keyword in ('QueryRetrieveLevel', 'SpecificCharacterSet'):
                continue
            wanted = element.value
            if wanted in (None, '') or element.VR == 'SQ':
                continue
            have = str(header.get(element.keyword, ''))
            values = wanted if element.VM > 1 else [wanted]
            if not any(fnmatch.fnmatchcase(have, str(value)) for value in values):
                return False
        return True

    def matching(self, identifier: Dataset) -> list[Path]:
        return [path for path in self.files if self._matches(self.headers[path], identifier)]

    def _answer(self, header: Dataset, identifier: Dataset) -> Dataset:
        match = Dataset()
        if 'SpecificCharacterSet' in header:
            match.SpecificCharacterSet = header.SpecificCharacterSet
        for element in identifier:
            if element.keyword == 'SpecificCharacterSet':
                continue
            match[element.tag] = header[element.tag] if element.tag in header else element
        match.RetrieveAETitle = OUR_AET
        return match

    def on_receive_find(self, context, ds):
        if self.find_total is not None:
            return self._many(ds)
        return ((self._answer(self.headers[path], ds), statuses.C_FIND_PENDING)
                for path in self.matching(ds))

    def _many(self, ds):
        header = self.headers[self.files[0]]
        for _ in range(self.find_total):
            yield self._answer(header, ds), statuses.C_FIND_PENDING

    def on_receive_move(self, context, ds, destination):
        paths = self.matching(ds)
        return self.move_destinations.get(destination), len(paths), iter(paths)

    def on_receive_get(self, context, ds):
        paths = self.matching(ds)
        return len(paths), iter(paths)


@pytest.fixture
def archive(samples, sample_of) -> list:
    """The three samples the archives hold."""
    return [sample_of(name) for name in ARCHIVE_SAMPLES]


def received_file(directory: Path, sop_instance_uid: str) -> Path:
    """The one file in ``directory`` named after ``sop_instance_uid`` (DCMTK adds a prefix)."""
    found = [p for p in directory.iterdir() if p.name.endswith(sop_instance_uid)
             or p.name.endswith(f'{sop_instance_uid}.dcm')]
    assert len(found) == 1, sorted(p.name for p in directory.iterdir())
    return found[0]


def study_keys(level: str = 'STUDY', **keys: str) -> list[str]:
    args = ['-k', f'QueryRetrieveLevel={level}']
    for keyword, value in keys.items():
        args += ['-k', f'{keyword}={value}']
    return args


# --- DCMTK SCUs -> our Q/R SCP -------------------------------------------------------------------


@pytest.mark.parametrize('model, level', [('-P', 'PATIENT'), ('-S', 'STUDY'), ('-O', 'STUDY')])
def test_findscu_to_our_archive(model, level, dcmtk, serve, archive, tmp_path):
    """findscu in each information model gets one response per matching study."""
    out = tmp_path / 'responses'
    out.mkdir()
    scp = OurArchive([s.path for s in archive])
    if level == 'PATIENT':
        keys = study_keys('PATIENT', PatientID='INTEROP-1', PatientName='')
        expected = len(archive)  # our matching is per instance: one answer each
    else:
        study = str(scp.headers[archive[1].path].StudyInstanceUID)
        keys = study_keys(PatientID='INTEROP-1', StudyInstanceUID=study, StudyDate='')
        expected = 1
    with serve(scp) as port:
        done = dcmtk.run('findscu', '-v', model, '-aec', OUR_AET, *TIMEOUTS, '-X', '-od', out,
                         *keys, '127.0.0.1', port)
    assert done.returncode == 0, done.explain()
    assert done.output.count('(Pending)') == expected, done.explain()
    responses = sorted(out.glob('rsp*.dcm'))
    assert len(responses) == expected, done.explain()
    first = dcmread(responses[0])
    assert first.PatientID == 'INTEROP-1'
    assert first.RetrieveAETitle == OUR_AET
    if level == 'STUDY':
        assert first.StudyInstanceUID == scp.headers[archive[1].path].StudyInstanceUID
        assert first.StudyDate == '20240131'


def test_findscu_cancel_to_our_archive(dcmtk, serve, archive):
    """findscu --cancel 2: our SCP stops the handler and answers Cancel (FE00H)."""
    scp = OurArchive([s.path for s in archive])
    scp.find_total = 20000
    with serve(scp) as port:
        done = dcmtk.run('findscu', '-v', '-S', '-aec', OUR_AET, *TIMEOUTS, '--cancel', 2,
                         *study_keys(StudyInstanceUID=''), '127.0.0.1', port)
        # the association still works after the cancel: a second query runs to its end
        scp.find_total = None
        again = dcmtk.run('findscu', '-v', '-S', '-aec', OUR_AET, *TIMEOUTS,
                          *study_keys(StudyInstanceUID=''), '127.0.0.1', port)
    assert done.returncode == 0, done.explain()
    assert 'Sending Cancel Request' in done.output, done.explain()
    assert 'Received Final Find Response (Cancel' in done.output, done.explain()
    assert done.output.count('(Pending)') < 20000, done.explain()
    assert again.returncode == 0 and again.output.count('(Pending)') == 3, again.explain()


@pytest.mark.parametrize('model', ['-P', '-S', '-O'])
def test_movescu_to_our_archive(model, dcmtk, serve, free_port, archive, assert_same, tmp_path):
    """movescu moves a study to itself (+P): the file it stores is the archive's data set."""
    out = tmp_path / 'moved'
    out.mkdir()
    scp = OurArchive([s.path for s in archive])
    movescu_port = free_port()
    scp.move_destinations['MOVESCU'] = {'aet': 'MOVESCU', 'address': '127.0.0.1',
                                         'port': movescu_port}
    target = archive[1]  # the MR, explicit VR little endian
    study = str(scp.headers[target.path].StudyInstanceUID)
    level = 'PATIENT' if model == '-P' else 'STUDY'
    keys = study_keys(level, PatientID='INTEROP-1', StudyInstanceUID=study) if level == 'STUDY' \
        else study_keys(level, PatientID='INTEROP-1')
    with serve(scp) as port:
        done = dcmtk.run('movescu', '-v', model, '-aet', 'MOVESCU', '-aec', OUR_AET,
                         '-aem', 'MOVESCU', '+P', movescu_port, '-od', out, *TIMEOUTS, *keys,
                         '127.0.0.1', port)
    assert done.returncode == 0, done.explain()
    assert 'Received Final Move Response (Success)' in done.output, done.explain()
    expected = [target] if level == 'STUDY' else archive
    for sample in expected:
        assert_same(sample, received_file(out, sample.sop_instance_uid), same_syntax=False)
    assert len(list(out.iterdir())) == len(expected)


def test_movescu_to_an_unknown_destination(dcmtk, serve, archive):
    scp = OurArchive([s.path for s in archive])
    with serve(scp) as port:
        done = dcmtk.run('movescu', '-v', '-S', '-aec', OUR_AET, '-aem', 'NOBODY', *TIMEOUTS,
                         *study_keys(StudyInstanceUID=''), '127.0.0.1', port)
    assert 'Received Final Move Response (Refused: MoveDestinationUnknown)' in done.output, \
        done.explain()


@pytest.mark.parametrize('model', ['-P', '-S', '-O'])
def test_getscu_to_our_archive(model, dcmtk, serve, archive, assert_same, tmp_path):
    """getscu gets every instance of the patient back on its association, unchanged."""
    out = tmp_path / 'got'
    out.mkdir()
    scp = OurArchive([s.path for s in archive])
    with serve(scp) as port:
        done = dcmtk.run('getscu', '-v', model, '-aec', OUR_AET, '-od', out, *TIMEOUTS,
                         *study_keys('PATIENT' if model == '-P' else 'STUDY',
                                     PatientID='INTEROP-1'), '127.0.0.1', port)
    assert done.returncode == 0, done.explain()
    assert 'Received C-GET Response (Success)' in done.output, done.explain()
    assert f'Number of Completed Suboperations : {len(archive)}' in done.output, done.explain()
    assert 'Number of Failed Suboperations    : 0' in done.output, done.explain()
    for sample in archive:
        assert_same(sample, received_file(out, sample.sop_instance_uid), same_syntax=False)
    assert len(list(out.iterdir())) == len(archive)


# --- our SCUs -> dcmqrscp ------------------------------------------------------------------------


class Dcmqrscp:
    """dcmqrscp with a configuration written by the test and a database storescu filled."""

    def __init__(self, dcmtk, workdir: Path, free_port, hosts: dict[str, tuple[str, int]]):
        self.dcmtk = dcmtk
        self.port = free_port()
        self.database = workdir / 'database'
        self.database.mkdir()
        host_lines = '\n'.join(f'{aet.lower()} = ({aet}, {address}, {port})'
                               for aet, (address, port) in hosts.items())
        self.config = workdir / 'dcmqrscp.cfg'
        # dcmqrscp.cfg(5): network settings, the move destinations, and one archive AE
        # whose storage area (read-write, quota 100 studies of 64 MB) any peer may use.
        self.config.write_text(
            f'NetworkTCPPort  = {self.port}\n'
            'MaxPDUSize      = 16384\n'
            'MaxAssociations = 16\n\n'
            f'HostTable BEGIN\n{host_lines}\nHostTable END\n\n'
            'VendorTable BEGIN\nVendorTable END\n\n'
            f'AETable BEGIN\n{DCMQRSCP_AET} {self.database} RW (100, 64mb) ANY\nAETable END\n'
        )

    def remote(self) -> dict:
        return {'aet': DCMQRSCP_AET, 'address': '127.0.0.1', 'port': self.port}


@pytest.fixture
def dcmqrscp(dcmtk, free_port, archive, tmp_path):
    """A function ``start(hosts) -> context manager`` running a filled dcmqrscp.

    Fork mode (the default): DCMTK 3.6.7's single-process mode (``-s``) crashes after an
    association ends.
    """
    import contextlib

    dcmtk.require('dcmqrscp', 'storescu')

    @contextlib.contextmanager
    def start(hosts: dict[str, tuple[str, int]] | None = None):
        server = Dcmqrscp(dcmtk, tmp_path, free_port, hosts or {})
        with dcmtk.server('dcmqrscp', '-c', server.config, port=server.port) as process:
            stored = dcmtk.run('storescu', '-aec', DCMQRSCP_AET, *TIMEOUTS, '127.0.0.1',
                               server.port, *(s.path for s in archive))
            assert stored.returncode == 0, stored.explain() + process.log()
            yield server

    return start


@pytest.mark.parametrize('root', ['patient', 'study', 'patient_study'])
def test_our_find_to_dcmqrscp(root, dcmqrscp, archive):
    classes = {'patient': uids.PATIENT_ROOT_FIND_SOP_CLASS,
               'study': uids.STUDY_ROOT_FIND_SOP_CLASS,
               'patient_study': uids.PATIENT_STUDY_ONLY_FIND_SOP_CLASS}
    client = ae.ClientAE('OURSCU').add_scu(sc.qr_find_scu)
    query = Dataset()
    query.QueryRetrieveLevel = 'STUDY'
    query.PatientID = 'INTEROP-1'
    query.StudyInstanceUID = ''
    query.StudyDate = ''
    with dcmqrscp() as server:
        with client.request_association(server.remote()) as assoc:
            results = list(assoc.get_scu(classes[root])(query, 1))
    assert results[-1][1] == statuses.SUCCESS and results[-1][0] is None
    studies = {str(m.StudyInstanceUID) for m, s in results if s.is_pending}
    expected = {str(dcmread(s.path, stop_before_pixels=True).StudyInstanceUID) for s in archive}
    assert studies == expected
    assert all(m.StudyDate == '20240131' for m, s in results if s.is_pending)


def test_our_move_to_dcmqrscp(dcmqrscp, archive, serve, assert_same, tmp_path):
    out = tmp_path / 'moved'
    destination = ae.StorageAE(out, 'OURDEST', 0, bind_and_activate=False)
    destination.add_scp(sc.storage_scp)
    target = archive[0]
    study = str(dcmread(target.path, stop_before_pixels=True).StudyInstanceUID)
    client = ae.ClientAE('OURSCU').add_scu(sc.qr_move_scu)
    query = Dataset()
    query.QueryRetrieveLevel = 'STUDY'
    query.StudyInstanceUID = study
    with serve(destination) as dest_port:
        with dcmqrscp({'OURDEST': ('127.0.0.1', dest_port)}) as server:
            with client.request_association(server.remote()) as assoc:
                move = assoc.get_scu(uids.STUDY_ROOT_MOVE_SOP_CLASS)
                responses = list(move(query, 'OURDEST', 1))
    status, final = responses[-1]
    assert status.is_success, responses
    assert final.num_of_completed_sub_ops == 1 and final.num_of_failed_sub_ops == 0
    assert_same(target, out / target.stored_name, same_syntax=False)
    assert sorted(p.name for p in out.iterdir()) == [target.stored_name]


@pytest.mark.parametrize('registration', ['add_scu', 'update_context_def_list'])
def test_our_get_to_dcmqrscp(registration, dcmqrscp, archive, assert_same, tmp_path):
    """Storage contexts registered either way are proposed with the SCP role; the original's
    recipe registers them with update_context_def_list (no storage service at all)."""
    out = tmp_path / 'got'
    client = ae.ClientStorageAE(out, 'OURSCU').add_scu(sc.qr_get_scu)
    if registration == 'add_scu':
        client.add_scu(sc.storage_scu, [CT_IMAGE_STORAGE, MR_IMAGE_STORAGE])
    else:
        client.update_context_def_list([CT_IMAGE_STORAGE, MR_IMAGE_STORAGE], store_in_file=True)
    query = Dataset()
    query.QueryRetrieveLevel = 'PATIENT'
    query.PatientID = 'INTEROP-1'
    with dcmqrscp() as server:
        with client.request_association(server.remote()) as assoc:
            get = assoc.get_scu(uids.PATIENT_ROOT_GET_SOP_CLASS)(query, 1)
            received = [ctx.sop_class for ctx, _ in get]
    assert get.status.is_success, get.response
    assert get.response.num_of_completed_sub_ops == len(archive)
    assert sorted(received) == sorted(s.sop_class_uid for s in archive)
    for sample in archive:
        assert_same(sample, out / sample.stored_name, same_syntax=False)


def test_our_get_into_a_plain_ae_from_dcmqrscp(dcmqrscp, archive, tmp_path):
    """A plain AE with a store-in-file storage SCP: its on_receive_store reads each file."""
    read = []

    class Reader(ae.AE):
        def on_receive_store(self, context, ds):
            read.append(dcmread(ds).SOPInstanceUID)
            return statuses.SUCCESS

    client = Reader('OURSCU', 0, host='127.0.0.1', bind_and_activate=False)
    client.add_scu(sc.qr_get_scu, [uids.PATIENT_ROOT_GET_SOP_CLASS]).add_scp(sc.storage_scp)
    query = Dataset()
    query.QueryRetrieveLevel = 'PATIENT'
    query.PatientID = 'INTEROP-1'
    try:
        with dcmqrscp() as server:
            with client.request_association(server.remote()) as assoc:
                get = assoc.get_scu(uids.PATIENT_ROOT_GET_SOP_CLASS)(query, 1)
                received = list(get)
    finally:
        client.quit()
    assert get.status.is_success, get.response
    assert len(received) == len(archive)
    assert sorted(read) == sorted(s.sop_instance_uid for s in archive)
