"""Part-10 files: the file meta we write and read, the UID grammar of file names, staged files."""

from __future__ import annotations

import io
import os
from pathlib import PurePosixPath

import pytest
from aetools import dataset, write_file
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from pynetdicom2 import filestorage, uids
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.negotiation import IMPLEMENTATION_UID, IMPLEMENTATION_VERSION_NAME


@pytest.mark.parametrize(
    ('uid', 'safe'),
    [
        ('1.2.840.10008.5.1.4.1.1.2', True),
        ('1.2.840.0010.1', False),  # PS3.5 9.1: no leading zero in a component
        ('1.2.0.10', True),  # a lone 0 is a component
        ('0', False),  # PS3.5 9.1: a root and a suffix at least
        ('00', False),
        ('0001', False),
        ('1.' + '1' * 62, True),
        ('1.' + '1' * 63, False),
        ('', False),
        ('../x', False),
        ('/abs', False),
        ('1..2', False),
        ('.1', False),
        ('1.', False),
        ('1.2\x00', False),
        ('1.2/3', False),
        ('1.2 ', False),
        (None, False),
        (b'1.2', False),
    ],
)
def test_is_safe_uid(uid, safe):
    assert filestorage.is_safe_uid(uid) is safe


def test_encode_meta_is_read_by_pydicom():
    raw = filestorage.encode_meta('1.2.3', '1.2.3.4', uids.ExplicitVRLittleEndian, 'VERSION1')
    ds = dataset()
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    read = dcmread(io.BytesIO(raw + body.getvalue()))
    meta = read.file_meta
    assert raw[:132] == filestorage.PREAMBLE
    assert meta.MediaStorageSOPClassUID == '1.2.3'
    assert meta.MediaStorageSOPInstanceUID == '1.2.3.4'
    assert meta.TransferSyntaxUID == uids.ExplicitVRLittleEndian
    assert meta.ImplementationClassUID == IMPLEMENTATION_UID
    assert meta.ImplementationVersionName == 'VERSION1'
    assert meta.FileMetaInformationGroupLength == len(raw) - 132 - 12
    assert read.PatientName == ds.PatientName


def test_write_meta_takes_the_uids_of_the_command_set():
    from pynetdicom2 import dimsemessages as dm

    rq = dm.CStoreRQMessage()
    rq.sop_class_uid = uids.CT_IMAGE_STORAGE
    rq.affected_sop_instance_uid = '1.2.3.4.5'
    buffer = io.BytesIO()
    filestorage.write_meta(buffer, rq.command_set, uids.ImplicitVRLittleEndian)
    buffer.seek(0)
    meta = filestorage.read_meta(buffer)
    assert meta[:3] == (uids.CT_IMAGE_STORAGE, '1.2.3.4.5', uids.ImplicitVRLittleEndian)
    assert meta.data_set_offset == len(buffer.getvalue())
    assert IMPLEMENTATION_VERSION_NAME.encode() in buffer.getvalue()


@pytest.mark.parametrize(
    'ts',
    [uids.ExplicitVRLittleEndian, uids.ImplicitVRLittleEndian, uids.ExplicitVRBigEndian,
     uids.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN],
)
def test_read_meta_of_a_pydicom_file_leaves_the_file_at_its_data_set(tmp_path, ts):
    ds = dataset(pixel_bytes=512)
    path = write_file(tmp_path / 'f.dcm', ds, ts)
    with open(path, 'rb') as fp:
        meta = filestorage.read_meta(fp)
        assert fp.tell() == meta.data_set_offset
        rest = fp.read()
    assert meta[:3] == (ds.SOPClassUID, ds.SOPInstanceUID, ts)
    # what follows is exactly the data set pydicom wrote after its meta
    assert path.read_bytes().endswith(rest) and len(rest) > 512 // 2


def test_read_meta_without_preamble(tmp_path):
    raw = filestorage.encode_meta('1.2', '1.2.3', uids.ExplicitVRLittleEndian)[132:]
    meta = filestorage.read_meta(io.BytesIO(raw + b'\x08\x00\x16\x00'))
    assert meta[:3] == ('1.2', '1.2.3', uids.ExplicitVRLittleEndian)
    assert meta.data_set_offset == len(raw)


@pytest.mark.parametrize(
    'raw',
    [
        b'',
        b'not a dicom file at all' * 10,
        filestorage.PREAMBLE + b'\x02\x00\x10\x00UI\x40\x00' + b'1.2',  # truncated value
        filestorage.PREAMBLE + b'\x02\x00\x01\x00OB\x00\x00\xff\xff\xff\x7f',  # absurd length
    ],
    ids=['empty', 'not-dicom', 'truncated', 'absurd-length'],
)
def test_read_meta_refuses_what_is_not_part10(raw):
    with pytest.raises(NetDICOMError):
        filestorage.read_meta(io.BytesIO(raw))


def test_staged_file_commit_and_discard(tmp_path):
    staged = filestorage.StagedFile(tmp_path)
    assert staged.path.parent == tmp_path and staged.path.name.startswith('.')
    staged.write(b'data')
    staged.seek(0)
    assert staged.read() == b'data'
    target = staged.commit(tmp_path / 'final.dcm')
    assert target.read_bytes() == b'data'
    assert sorted(os.listdir(tmp_path)) == ['final.dcm']
    with pytest.raises(NetDICOMError):
        staged.commit(tmp_path / 'again.dcm')
    other = filestorage.StagedFile(tmp_path)
    other.write(b'partial')
    other.discard()
    other.discard()
    assert sorted(os.listdir(tmp_path)) == ['final.dcm']


def test_read_meta_of_a_meta_group_longer_than_one_read(tmp_path):
    # A private element (0002,0102) of 3000 bytes: the group needs several reads.
    ds = dataset(pixel_bytes=64)
    path = write_file(tmp_path / 'f.dcm', ds, uids.ExplicitVRLittleEndian)
    raw = path.read_bytes()
    meta = filestorage.read_meta(io.BytesIO(raw))
    private = b'\x02\x00\x02\x01OB\x00\x00' + (3000).to_bytes(4, 'little') + b'x' * 3000
    group_length = int.from_bytes(raw[140:144], 'little')
    longer = (raw[:140] + (group_length + len(private)).to_bytes(4, 'little')
              + raw[144:meta.data_set_offset] + private + raw[meta.data_set_offset:])
    fp = io.BytesIO(longer)
    read = filestorage.read_meta(fp)
    assert read[:3] == meta[:3] and read.data_set_offset == meta.data_set_offset + len(private)
    assert fp.read() == raw[meta.data_set_offset:]
    with pytest.raises(NetDICOMError, match='truncated DICOM file'):
        filestorage.read_meta(io.BytesIO(longer[:meta.data_set_offset + 1000]))


def test_read_meta_of_a_file_holding_the_meta_only():
    raw = filestorage.encode_meta('1.2', '1.2.3', uids.ExplicitVRLittleEndian)
    meta = filestorage.read_meta(io.BytesIO(raw + b'\x08'))  # and a stray byte
    assert meta.data_set_offset == len(raw) and meta.sop_instance_uid == '1.2.3'


# --- the staging reserve --------------------------------------------------------------------------


def test_a_staged_file_takes_a_prepared_one_only_when_offered(tmp_path):
    reserve = filestorage.StagingReserve(size=2)
    assert reserve.prepare(tmp_path) and reserve.prepare(tmp_path)
    assert not reserve.prepare(tmp_path)  # two are enough
    prepared = set(os.listdir(tmp_path))
    assert len(reserve) == 2 and all(name.startswith('.pynetdicom2-') for name in prepared)
    unoffered = filestorage.StagedFile(tmp_path)  # not offered: a new file
    assert unoffered.path.name not in prepared and len(reserve) == 2
    other = tmp_path / 'other'
    other.mkdir()
    with reserve.offered():
        elsewhere = filestorage.StagedFile(other)  # prepared for another directory: not taken
        taken = filestorage.StagedFile(str(tmp_path) + '/')
    assert elsewhere.path.parent == other and taken.path.name in prepared
    assert len(reserve) == 1 and taken.directory == str(tmp_path)
    taken.write(b'data')
    taken.commit(tmp_path / 'final.dcm')
    for staged in (unoffered, elsewhere):
        staged.discard()
    reserve.close()  # the one not taken is deleted
    assert sorted(os.listdir(tmp_path)) == ['final.dcm', 'other']
    assert os.listdir(other) == [] and len(reserve) == 0
    assert not reserve.prepare(tmp_path)  # closed: nothing more
    assert sorted(os.listdir(tmp_path)) == ['final.dcm', 'other']


def test_a_reserve_that_cannot_create_a_file_is_no_error(tmp_path):
    reserve = filestorage.StagingReserve()
    assert not reserve.prepare(tmp_path / 'missing')  # e.g. a full disk: the data set will say
    assert len(reserve) == 0
    with reserve.offered(), pytest.raises(FileNotFoundError):
        filestorage.StagedFile(tmp_path / 'missing')


# --- naming policies ----------------------------------------------------------------------------


def command_set(uid: str = '1.2.3.4') -> Dataset:
    rq = Dataset()
    rq.AffectedSOPClassUID = uids.CT_IMAGE_STORAGE
    rq.AffectedSOPInstanceUID = uid
    return rq


def header(**attrs) -> Dataset:
    ds = Dataset()
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


@pytest.mark.filterwarnings('ignore:Invalid value for VR UI:UserWarning')
def test_sop_instance_uid_naming(tmp_path):
    naming = filestorage.SOPInstanceUIDNaming()
    assert naming.relative_path(command_set()) == PurePosixPath('1.2.3.4.dcm')
    assert naming.path_in(tmp_path, command_set()) == tmp_path / '1.2.3.4.dcm'
    (tmp_path / '1.2.3.4.dcm').touch()
    assert naming.path_in(tmp_path, command_set()) == tmp_path / '1.2.3.4_1.dcm'  # kept apart
    replacing = filestorage.SOPInstanceUIDNaming(replace=True)
    assert replacing.path_in(tmp_path, command_set()) == tmp_path / '1.2.3.4.dcm'
    for bad in ('../x', '', '1.2/3'):
        with pytest.raises(ValueError, match='not a valid UID'):
            naming.relative_path(command_set(bad))
    assert not naming.needs_dataset


def test_numbered_stops_after_max_iterations(tmp_path):
    for name in ('a.dcm', 'a_1.dcm', 'a_2.dcm'):
        (tmp_path / name).touch()
    assert filestorage.numbered(tmp_path / 'a.dcm', 4) == tmp_path / 'a_3.dcm'
    with pytest.raises(FileExistsError, match='a.dcm and 2 numbered copies exist'):
        filestorage.numbered(tmp_path / 'a.dcm', 3)
    (tmp_path / 'noext').touch()
    assert filestorage.numbered(tmp_path / 'noext', 3) == tmp_path / 'noext_1'


def test_study_series_naming():
    naming = filestorage.StudySeriesNaming()
    ds = header(StudyInstanceUID='1.2', SeriesInstanceUID='1.2.3', SOPInstanceUID='1.2.3.4')
    assert naming.needs_dataset and not naming.replace
    assert naming.relative_path(command_set(), ds) == PurePosixPath('1.2/1.2.3/1.2.3.4.dcm')
    # The SOP Instance UID may come from the command set; a study UID may not be missing.
    ds = header(StudyInstanceUID='1.2', SeriesInstanceUID='1.2.3')
    assert naming.relative_path(command_set('9.9'), ds).name == '9.9.dcm'


@pytest.mark.filterwarnings('ignore::UserWarning')  # pydicom's doubts about these UIDs
@pytest.mark.parametrize('bad_uid', ['../../etc', '1.2/3', '/abs', '1..2', 'x' * 65])
def test_template_refuses_a_uid_that_is_no_uid(bad_uid):
    ds = header(StudyInstanceUID=bad_uid, SeriesInstanceUID='1.2.3', SOPInstanceUID='1.2.3.4')
    with pytest.raises(ValueError, match='StudyInstanceUID .* is not a valid UID'):
        filestorage.StudySeriesNaming().relative_path(command_set(), ds)


def test_template_values_cannot_leave_the_directory(tmp_path):
    naming = filestorage.TemplateNaming('{PatientID}/{PatientName}/../{AccessionNumber}/'
                                        '{Modality}-{SOPInstanceUID}.dcm')
    ds = header(PatientID='../../etc', PatientName='a/b\\c', AccessionNumber='..',
                SOPInstanceUID='1.2.3.4')
    relative = naming.relative_path(command_set(), ds)
    assert relative.parts == ('.._.._etc', 'a_b_c', '_', '_', '_-1.2.3.4.dcm')
    target = naming.path_in(tmp_path, command_set(), ds)
    assert target.parents[4] == tmp_path and target.relative_to(tmp_path).parts == relative.parts


@pytest.mark.parametrize('template', ['', '/', '{0}.dcm', '{}', '{PatientID!r}',
                                      '{InstanceNumber:05}', '{PatientID.x}', '{unclosed'])
def test_template_syntax_is_checked_when_made(template):
    with pytest.raises(ValueError, match='template'):
        filestorage.TemplateNaming(template)


def test_a_policy_of_ones_own_is_checked_too(tmp_path):
    class Escaping(filestorage.FileNaming):
        def __init__(self, path):
            super().__init__()
            self.path = path

        def relative_path(self, command_set, dataset=None):
            return PurePosixPath(self.path)

    for path in ('../x.dcm', '/etc/x.dcm', 'a/../../x.dcm', 'a\0b.dcm'):
        with pytest.raises(ValueError, match='not a safe relative file name'):
            Escaping(path).path_in(tmp_path, command_set())
    assert Escaping('a/b.dcm').path_in(tmp_path, command_set()) == tmp_path / 'a' / 'b.dcm'


def test_read_header_of_a_staged_file(tmp_path):
    ds = dataset(pixel_bytes=512)
    staged = filestorage.StagedFile(tmp_path)
    staged.write(write_file(tmp_path / 'f.dcm', ds, uids.ExplicitVRLittleEndian).read_bytes())
    read = filestorage.read_header(staged)  # from the start, whatever was read before
    assert read.SOPInstanceUID == ds.SOPInstanceUID and 'PixelData' not in read
    staged.discard()
    closed = io.BytesIO()
    closed.close()
    with pytest.raises(OSError, match='cannot read the received data set'):
        filestorage.read_header(closed)
