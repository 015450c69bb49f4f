"""The complete storage list, the query/retrieve groups and private SOP classes of ``uids``.

* Every constant of the original's ``uids`` module keeps its name and value, and its 139
  storage classes stay in ``STORAGE_SOP_CLASSES``, in their order, among the standard's
  others (PS3.4 B.5, PS3.4 GG: 170 and more; pynetdicom's list is a subset when installed).
* ``storage_scp`` serves the whole list; an AE registering every storage class next to
  ``qr_get_scu`` for every retrieve class still associates, in at most 128 contexts.
* ``register_private_sop_class``: UIDs checked against PS3.5 9.1 and 9.2; a registered class
  has its name, belongs to the live sets, is proposed with the SCP role by a C-GET SCU, is
  received by C-GET and by a storage SCP; a private C-GET class makes a requester propose
  the SCP role, as a standard one does.
"""

from __future__ import annotations

import pytest
from aetools import dataset, fast, remote, serving
from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import commands, negotiation, statuses, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.loopback import LoopbackSCP

CT = uids.CT_IMAGE_STORAGE
EXPLICIT = uids.ExplicitVRLittleEndian
#: Private UIDs under the root of these tests (PS3.5 9.2.2: an organization's own root).
ROOT = '1.2.826.0.1.3680043.9.7433.15.'

#: The original's ``uids`` module: every constant, its value under 1.2.840.10008, and S for
#: the members of its STORAGE_SOP_CLASSES, in their order.
ORIGINAL = """
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN 1.2.1.99
JPEG_BASELINE_PROCESS_1 1.2.4.50
JPEG_EXTENDED_PROCESS_2_AND_4 1.2.4.51
JPEG_LOSSLESS_NON_HIERARCHICAL_PROCESS_14 1.2.4.57
JPEG_LOSSLESS_NON_HIERARCHICAL_FIRST_ORDER_PREDICTION_PROCESS_14_SELECTION_VALUE_1 1.2.4.70
JPEG_LS_LOSSLESS_IMAGE_COMPRESSION 1.2.4.80
JPEG_LS_LOSSY_NEAR_LOSSLESS_IMAGE_COMPRESSION 1.2.4.81
JPEG_2000_IMAGE_COMPRESSION_LOSSLESS_ONLY 1.2.4.90
JPEG_2000_IMAGE_COMPRESSION 1.2.4.91
JPEG_2000_PART_2_MULTI_COMPONENT_IMAGE_COMPRESSION_LOSSLESS_ONLY 1.2.4.92
JPEG_2000_PART_2_MULTI_COMPONENT_IMAGE_COMPRESSION 1.2.4.93
JPIP_REFERENCED 1.2.4.94
JPIP_REFERENCED_DEFLATE 1.2.4.95
MPEG2_MAIN_PROFILE_MAIN_LEVEL 1.2.4.100
MPEG2_MAIN_PROFILE_HIGH_LEVEL 1.2.4.101
MPEG_4_AVC_H_264_HIGH_PROFILE_LEVEL_4_1 1.2.4.102
MPEG_4_AVC_H_264_BD_COMPATIBLE_HIGH_PROFILE_LEVEL_4_1 1.2.4.103
MPEG_4_AVC_H_264_HIGH_PROFILE_LEVEL_4_2_FOR_2D_VIDEO 1.2.4.104
MPEG_4_AVC_H_264_HIGH_PROFILE_LEVEL_4_2_FOR_3D_VIDEO 1.2.4.105
MPEG_4_AVC_H_264_STEREO_HIGH_PROFILE_LEVEL_4_2 1.2.4.106
HEVC_H_265_MAIN_PROFILE_LEVEL_5_1 1.2.4.107
HEVC_H_265_MAIN_10_PROFILE_LEVEL_5_1 1.2.4.108
RLE_LOSSLESS 1.2.5
RFC_2557_MIME_ENCAPSULATION 1.2.6.1
XML_ENCODING 1.2.6.2
VERIFICATION_SOP_CLASS 1.1
CR_IMAGE_STORAGE 5.1.4.1.1.1 S
DX_IMAGE_STORAGE_FOR_PRESENTATION 5.1.4.1.1.1.1 S
DX_IMAGE_STORAGE_FOR_PROCESSING 5.1.4.1.1.1.1.1 S
MG_IMAGE_STORAGE_FOR_PRESENTATION 5.1.4.1.1.1.2 S
MG_IMAGE_STORAGE_FOR_PROCESSING 5.1.4.1.1.1.2.1 S
IO_IMAGE_STORAGE_FOR_PRESENTATION 5.1.4.1.1.1.3 S
IO_IMAGE_STORAGE_FOR_PROCESSING 5.1.4.1.1.1.3.1 S
CT_IMAGE_STORAGE 5.1.4.1.1.2 S
ENHANCED_CT_IMAGE_STORAGE 5.1.4.1.1.2.1 S
LEGACY_ENHANCED_CT_IMAGE_STORAGE 5.1.4.1.1.2.2 S
ULTRASOUND_MULTI_FRAME_IMAGE 5.1.4.1.1.3.1 S
MR_IMAGE_STORAGE 5.1.4.1.1.4 S
ENHANCED_MR_IMAGE 5.1.4.1.1.4.1 S
MR_SPECTROSCOPY_STORAGE 5.1.4.1.1.4.2 S
ENHANCED_MR_COLOR_IMAGE_STORAGE 5.1.4.1.1.4.3 S
LEGACY_CONVERTED_ENHANCED_MR_IMAGE_STORAGE 5.1.4.1.1.4.4 S
ULTRASOUND_IMAGE_STORAGE 5.1.4.1.1.6.1 S
ENHANCED_US_VOLUME_STORAGE 5.1.4.1.1.6.2 S
SC_IMAGE_STORAGE 5.1.4.1.1.7 S
MULTI_FRAME_SINGLE_BIT_SC_IMAGE_STORAGE 5.1.4.1.1.7.1 S
MULTI_FRAME_GRAYSCALE_BYTE_SC_IMAGE_STORAGE 5.1.4.1.1.7.2 S
MULTI_FRAME_GRAYSCALE_WORD_SC_IMAGE_STORAGE 5.1.4.1.1.7.3 S
MULTI_FRAME_TRUE_COLOR_SC_IMAGE_STORAGE 5.1.4.1.1.7.4 S
TWELVE_LEAD_ECG_WAVEFORM_STORAGE 5.1.4.1.1.9.1.1 S
GENERAL_ECG_WAVEFORM_STORAGE 5.1.4.1.1.9.1.2 S
AMBULATORY_ECG_WAVEFORM_STORAGE 5.1.4.1.1.9.1.3 S
HEMODYNAMIC_WAVEFORM_STORAGE 5.1.4.1.1.9.2.1 S
CARDIAC_ELECTROPHYSIOLOGY_WAVEFORM_STORAGE 5.1.4.1.1.9.3.1 S
BASIC_VOICE_AUDIO_WAVEFORM_STORAGE 5.1.4.1.1.9.4.1 S
GENERAL_AUDIO_WAVEFORM_STORAGE 5.1.4.1.1.9.4.2 S
ARTERIAL_PULSE_WAVEFORM_STORAGE 5.1.4.1.1.9.5.1 S
RESPIRATORY_WAVEFORM_STORAGE 5.1.4.1.1.9.6.1 S
GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE 5.1.4.1.1.11.1 S
COLOR_SOFTCOPY_PRESENTATION_STATE_STORAGE 5.1.4.1.1.11.2 S
PSEUDO_COLOR_SOFTCOPY_PRESENTATION_STATE_STORAGE 5.1.4.1.1.11.3 S
BLENDING_SOFTCOPY_PRESENTATION_STATE_STORAGE 5.1.4.1.1.11.4 S
XA_XRF_GRAYSCALE_SOFTCOPY_PRESENTATION_STATE_STORAGE 5.1.4.1.1.11.5 S
GRAYSCALE_PLANAR_MPR_VOLUMETRIC_PRESENTATION_STATE_STORAGE 5.1.4.1.1.11.6 S
COMPOSITING_PLANAR_MPR_VOLUMETRIC_PRESENTATION_STATE_STORAGE 5.1.4.1.1.11.7 S
ADVANCED_BLENDING_PRESENTATION_STATE_STORAGE 5.1.4.1.1.11.8 S
VOLUME_RENDERING_VOLUMETRIC_PRESENTATION_STATE_STORAGE 5.1.4.1.1.11.9 S
SEGMENTED_VOLUME_RENDERING_VOLUMETRIC_PRESENTATION_STATE_STORAGE 5.1.4.1.1.11.10 S
MULTIPLE_VOLUME_RENDERING_VOLUMETRIC_PRESENTATION_STATE_STORAGE 5.1.4.1.1.11.11 S
XA_IMAGE_STORAGE 5.1.4.1.1.12.1 S
ENHANCED_XA_IMAGE_STORAGE 5.1.4.1.1.12.1.1 S
RF_IMAGE_STORAGE 5.1.4.1.1.12.2 S
ENHANCED_RF_IMAGE_STORAGE 5.1.4.1.1.12.2.1 S
X_RAY_3D_ANGIOGRAPHIC_IMAGE_STORAGE 5.1.4.1.1.13.1.1 S
X_RAY_3D_CRANIOFACIAL_IMAGE_STORAGE 5.1.4.1.1.13.1.2 S
BREAST_TOMOSYNTHESIS_IMAGE_STORAGE 5.1.4.1.1.13.1.3 S
BREAST_PROJECTION_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION 5.1.4.1.1.13.1.4 S
BREAST_PROJECTION_X_RAY_IMAGE_STORAGE_FOR_PROCESSING 5.1.4.1.1.13.1.5 S
INTRAVASCULAR_OPTICAL_COHERENCE_TOMOGRAPHY_IMAGE_STORAGE_FOR_PRESENTATION 5.1.4.1.1.14.1 S
INTRAVASCULAR_OPTICAL_COHERENCE_TOMOGRAPHY_IMAGE_STORAGE_FOR_PROCESSING 5.1.4.1.1.14.2 S
NM_IMAGE_STORAGE 5.1.4.1.1.20 S
PARAMETRIC_MAP_STORAGE 5.1.4.1.1.30 S
RAW_DATA_STORAGE 5.1.4.1.1.66 S
SPATIAL_REGISTRATION 5.1.4.1.1.66.1 S
SPATIAL_FIDUCIALS_STORAGE 5.1.4.1.1.66.2 S
DEFORMABLE_SPATIAL_REGISTRATION_STORAGE 5.1.4.1.1.66.3 S
SEGMENTATION_STORAGE 5.1.4.1.1.66.4 S
SURFACE_SEGMENTATION_STORAGE 5.1.4.1.1.66.5 S
TRACTOGRAPHY_RESULTS_STORAGE 5.1.4.1.1.66.6 S
REAL_WORLD_VALUE_MAPPING_STORAGE 5.1.4.1.1.67 S
SURFACE_SCAN_MESH_STORAGE 5.1.4.1.1.68.1 S
SURFACE_SCAN_POINT_CLOUD_STORAGE 5.1.4.1.1.68.2 S
VL_ENDOSCOPIC_IMAGE_STORAGE 5.1.4.1.1.77.1.1 S
VIDEO_ENDOSCOPIC_IMAGE_STORAGE 5.1.4.1.1.77.1.1.1 S
VL_MICROSCOPIC_IMAGE_STORAGE 5.1.4.1.1.77.1.2 S
VIDEO_MICROSCOPIC_IMAGE_STORAGE 5.1.4.1.1.77.1.2.1 S
VL_SLIDE_COORDINATES_MICROSCOPIC_IMAGE_STORAGE 5.1.4.1.1.77.1.3 S
VL_PHOTOGRAPHIC_IMAGE_STORAGE 5.1.4.1.1.77.1.4 S
VIDEO_PHOTOGRAPHIC_IMAGE_STORAGE 5.1.4.1.1.77.1.4.1 S
OPHTHALMIC_PHOTOGRAPHY_8_BIT_IMAGE_STORAGE 5.1.4.1.1.77.1.5.1 S
OPHTHALMIC_PHOTOGRAPHY_16_BIT_IMAGE_STORAGE 5.1.4.1.1.77.1.5.2 S
STEREOMETRIC_RELATIONSHIP_STORAGE 5.1.4.1.1.77.1.5.3 S
OPHTHALMIC_TOMOGRAPHY_IMAGE_STORAGE 5.1.4.1.1.77.1.5.4 S
WIDE_FIELD_OPHTHALMIC_PHOTOGRAPHY_STEREOGRAPHIC_PROJECTION_IMAGE_STORAGE 5.1.4.1.1.77.1.5.5 S
WIDE_FIELD_OPHTHALMIC_PHOTOGRAPHY_3D_COORDINATES_IMAGE_STORAGE 5.1.4.1.1.77.1.5.6 S
OPHTHALMIC_OPTICAL_COHERENCE_TOMOGRAPHY_EN_FACE_IMAGE_STORAGE 5.1.4.1.1.77.1.5.7 S
OPHTHALMIC_OPTICAL_COHERENCE_TOMOGRAPHY_B_SCAN_VOLUME_ANALYSIS_STORAGE 5.1.4.1.1.77.1.5.8 S
VL_WHOLE_SLIDE_MICROSCOPY_IMAGE_STORAGE 5.1.4.1.1.77.1.6 S
LENSOMETRY_MEASUREMENTS_STORAGE 5.1.4.1.1.78.1 S
AUTOREFRACTION_MEASUREMENTS_STORAGE 5.1.4.1.1.78.2 S
KERATOMETRY_MEASUREMENTS_STORAGE 5.1.4.1.1.78.3 S
SUBJECTIVE_REFRACTION_MEASUREMENTS_STORAGE 5.1.4.1.1.78.4 S
VISUAL_ACUITY_MEASUREMENTS_STORAGE 5.1.4.1.1.78.5 S
SPECTACLE_PRESCRIPTION_REPORT_STORAGE 5.1.4.1.1.78.6 S
OPHTHALMIC_AXIAL_MEASUREMENTS_STORAGE 5.1.4.1.1.78.7 S
INTRAOCULAR_LENS_CALCULATIONS_STORAGE 5.1.4.1.1.78.8 S
MACULAR_GRID_THICKNESS_AND_VOLUME_REPORT_STORAGE 5.1.4.1.1.79.1 S
OPHTHALMIC_VISUAL_FIELD_STATIC_PERIMETRY_MEASUREMENTS_STORAGE 5.1.4.1.1.80.1 S
OPHTHALMIC_THICKNESS_MAP_STORAGE 5.1.4.1.1.81.1 S
CORNEAL_TOPOGRAPHY_MAP_STORAGE 5.1.4.1.1.82.1 S
BASIC_TEXT_SR_STORAGE 5.1.4.1.1.88.11 S
ENHANCED_SR_STORAGE 5.1.4.1.1.88.22 S
COMPREHENSIVE_SR_STORAGE 5.1.4.1.1.88.33 S
COMPREHENSIVE_3D_SR_STORAGE 5.1.4.1.1.88.34 S
EXTENSIBLE_SR_STORAGE 5.1.4.1.1.88.35 S
PROCEDURE_LOG_STORAGE 5.1.4.1.1.88.40 S
MAMMOGRAPHY_CAD_SR_STORAGE 5.1.4.1.1.88.50 S
KEY_OBJECT_SELECTION_DOCUMENT_STORAGE 5.1.4.1.1.88.59 S
CHEST_CAD_SR_STORAGE 5.1.4.1.1.88.65 S
XRAY_RADIATION_DOSE_SR_STORAGE 5.1.4.1.1.88.67 S
RADIOPHARMACEUTICAL_RADIATION_DOSE_SR_STORAGE 5.1.4.1.1.88.68 S
COLON_CAD_SR_STORAGE 5.1.4.1.1.88.69 S
IMPLANTATION_PLAN_SR_STORAGE 5.1.4.1.1.88.70 S
ACQUISITION_CONTEXT_SR_STORAGE 5.1.4.1.1.88.71 S
SIMPLIFIED_ADULT_ECHO_SR_STORAGE 5.1.4.1.1.88.72 S
PATIENT_RADIATION_DOSE_SR_STORAGE 5.1.4.1.1.88.73 S
CONTENT_ASSESSMENT_RESULTS_STORAGE 5.1.4.1.1.90.1 S
ENCAPSULATED_PDF_STORAGE 5.1.4.1.1.104.1 S
ENCAPSULATED_CDA_STORAGE 5.1.4.1.1.104.2 S
PET_IMAGE_STORAGE 5.1.4.1.1.128 S
LEGACY_CONVERTED_ENHANCED_PET_IMAGE_STORAGE 5.1.4.1.1.128.1 S
STANDALONE_PET_CURVE_STORAGE 5.1.4.1.1.129 S
ENHANCED_PET_IMAGE_STORAGE 5.1.4.1.1.130 S
BASIC_STRUCTURED_DISPLAY_STORAGE 5.1.4.1.1.131 S
CT_DEFINED_PROCEDURE_PROTOCOL_STORAGE 5.1.4.1.1.200.1 S
CT_PERFORMED_PROCEDURE_PROTOCOL_STORAGE 5.1.4.1.1.200.2 S
PROTOCOL_APPROVAL_STORAGE 5.1.4.1.1.200.3 S
RT_IMAGE_STORAGE 5.1.4.1.1.481.1 S
RT_DOSE_STORAGE 5.1.4.1.1.481.2 S
RT_STRUCTURE_SET_STORAGE 5.1.4.1.1.481.3 S
RT_BEAMS_TREATMENT_RECORD_STORAGE 5.1.4.1.1.481.4 S
RT_PLAN_STORAGE 5.1.4.1.1.481.5 S
RT_BRACHY_TREATMENT_RECORD_STORAGE 5.1.4.1.1.481.6 S
RT_TREATMENT_SUMMARY_RECORD_STORAGE 5.1.4.1.1.481.7 S
RT_ION_PLAN_STORAGE 5.1.4.1.1.481.8 S
RT_ION_BEAMS_TREATMENT_RECORD_STORAGE 5.1.4.1.1.481.9 S
DICOS_CT_IMAGE_STORAGE 5.1.4.1.1.501.1 S
DICOS_DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION 5.1.4.1.1.501.2.1 S
DICOS_DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PROCESSING 5.1.4.1.1.501.2.2 S
DICOS_THREAT_DETECTION_REPORT_STORAGE 5.1.4.1.1.501.3 S
DICOS_2D_AIT_STORAGE 5.1.4.1.1.501.4 S
DICOS_3D_AIT_STORAGE 5.1.4.1.1.501.5 S
DICOS_QR_STORAGE 5.1.4.1.1.501.6 S
EDDY_CURRENT_IMAGE_STORAGE 5.1.4.1.1.601.1 S
EDDY_CURRENT_MULTI_FRAME_IMAGE_STORAGE 5.1.4.1.1.601.2 S
PATIENT_ROOT_FIND_SOP_CLASS 5.1.4.1.2.1.1
PATIENT_ROOT_MOVE_SOP_CLASS 5.1.4.1.2.1.2
PATIENT_ROOT_GET_SOP_CLASS 5.1.4.1.2.1.3
STUDY_ROOT_FIND_SOP_CLASS 5.1.4.1.2.2.1
STUDY_ROOT_MOVE_SOP_CLASS 5.1.4.1.2.2.2
STUDY_ROOT_GET_SOP_CLASS 5.1.4.1.2.2.3
PATIENT_STUDY_ONLY_FIND_SOP_CLASS 5.1.4.1.2.3.1
PATIENT_STUDY_ONLY_MOVE_SOP_CLASS 5.1.4.1.2.3.2
PATIENT_STUDY_ONLY_GET_SOP_CLASS 5.1.4.1.2.3.3
MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS 5.1.4.31
STORAGE_COMMITMENT_SOP_CLASS 1.20.1
"""


def original() -> list[tuple[str, str, bool]]:
    return [(name, f'1.2.840.10008.{value}', bool(storage))
            for name, value, *storage in (line.split() for line in ORIGINAL.strip().splitlines())]


@pytest.fixture
def private():
    """Register private classes for one test; they are forgotten after it."""
    registered: list[str] = []

    def register(suffix: str, name: str, **kind: bool) -> UID:
        uid = uids.register_private_sop_class(ROOT + suffix, name, **kind)
        registered.append(uid)
        return uid

    yield register
    for uid in registered:
        uids.unregister_private_sop_class(uid)
    assert uids.private_sop_classes() == ()


# --- the original's names, the standard's list ---------------------------------------------------


def test_every_original_constant_keeps_its_name_and_value():
    constants = original()
    assert len(constants) == 176
    changed = [(name, value) for name, value, _ in constants if getattr(uids, name, None) != value]
    assert changed == []


def test_the_originals_storage_classes_stay_in_their_order():
    theirs = [value for _, value, storage in original() if storage]
    assert len(theirs) == 139
    assert [uid for uid in uids.STORAGE_SOP_CLASSES if uid in set(theirs)] == theirs


def test_the_storage_list_is_the_standards():
    classes = uids.STORAGE_SOP_CLASSES
    assert len(classes) >= 170 and len(set(classes)) == len(classes)
    # In PS3.6 order (by UID), every one named, none retired but the original's PET curve.
    key = [[int(part) for part in uid.split('.')] for uid in classes]
    assert key == sorted(key)
    assert [uid for uid in classes if uids.sop_class_name(uid) == uid] == []
    assert [uid for uid in classes if uid.is_retired] == [uids.STANDALONE_PET_CURVE_STORAGE]
    for uid in (uids.PHOTOACOUSTIC_IMAGE_STORAGE, uids.LABEL_MAP_SEGMENTATION_STORAGE,
                uids.CONFOCAL_MICROSCOPY_TILED_PYRAMIDAL_IMAGE_STORAGE,
                uids.ENHANCED_RT_IMAGE_STORAGE, uids.HANGING_PROTOCOL_STORAGE,
                uids.INVENTORY_STORAGE, uids.CT_IMAGE_STORAGE_FOR_PROCESSING):
        assert uid in classes
    assert uids.sop_class_name(uids.HEIGHT_MAP_SEGMENTATION_STORAGE) == (
        'Height Map Segmentation Storage')
    assert set(uids.NON_PATIENT_OBJECT_STORAGE_SOP_CLASSES) <= set(classes)


def test_every_storage_class_of_pynetdicom_is_here():
    presentation = pytest.importorskip(
        'pynetdicom.presentation', reason='pynetdicom is not installed: nothing to compare with')
    theirs = {context.abstract_syntax for context in presentation.AllStoragePresentationContexts}
    assert len(theirs) >= 170
    assert theirs - set(uids.STORAGE_SOP_CLASSES) == set()


def test_storage_scp_serves_the_whole_list(tmp_path):
    assert sc.storage_scp.sop_classes == list(uids.STORAGE_SOP_CLASSES)
    srv = ae.StorageAE(tmp_path, 'SCP', 0, bind_and_activate=False)
    try:
        srv.add_scp(sc.storage_scp)
        assert set(srv.supported_scp) == set(uids.STORAGE_SOP_CLASSES)
        assert set(uids.STORAGE_SOP_CLASSES) <= srv.store_in_file
    finally:
        srv.quit()


def test_the_rare_classes_leave_room_for_the_others():
    assert len(commands.COMMON_STORAGE_SOP_CLASSES) < negotiation.MAX_CONTEXTS
    rare = [uid for uid in uids.STORAGE_SOP_CLASSES if negotiation.rarely_received(uid)]
    # An SCU of one C-GET class receives the rest in the 127 contexts left.
    assert len(uids.STORAGE_SOP_CLASSES) - len(rare) <= negotiation.MAX_CONTEXTS - 1
    for common in (CT, uids.MR_IMAGE_STORAGE, uids.ENHANCED_SR_STORAGE, uids.RT_PLAN_STORAGE,
                   uids.SEGMENTATION_STORAGE, uids.ENCAPSULATED_PDF_STORAGE):
        assert not negotiation.rarely_received(common)


def test_every_storage_and_retrieve_class_associates_in_128_contexts(tmp_path):
    """The original's way: an AE serving storage_scp (every class) and a C-GET SCU."""
    requester = fast(ae.AE('EVERYTHING', 0, host='127.0.0.1', bind_and_activate=False))
    requester.add_scp(sc.storage_scp).add_scp(sc.verification_scp)
    requester.add_scu(sc.qr_get_scu, uids.ALL_GET_SOP_CLASSES).add_scu(sc.verification_scu)
    try:
        with LoopbackSCP(tmp_path / 'pacs') as pacs:
            with requester.request_association(pacs.remote) as assoc:
                assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
                proposed = {ctx.sop_class for ctx in assoc.context_def_list.values()}
                assert len(assoc.context_def_list) == negotiation.MAX_CONTEXTS
                assert max(assoc.context_def_list) == 255
                assert set(uids.ALL_GET_SOP_CLASSES) <= proposed and CT in proposed
    finally:
        requester.quit()


# --- private SOP classes -------------------------------------------------------------------------


def test_a_registered_class_has_its_name_and_kind(private):
    raw = private('1', 'Acme Raw Data Storage', storage=True)
    get = private('2', 'Acme Retrieve - GET', c_get=True)
    other = private('3', 'Acme Worklist - FIND')
    assert isinstance(raw, UID) and raw == ROOT + '1'
    assert [entry.uid for entry in uids.private_sop_classes()] == [raw, get, other]
    assert uids.private_sop_classes()[0] == uids.PrivateSOPClass(raw, 'Acme Raw Data Storage',
                                                                 True, False)
    assert uids.sop_class_name(raw) == 'Acme Raw Data Storage'
    assert raw in uids.KNOWN_STORAGE_SOP_CLASSES and raw not in uids.KNOWN_GET_SOP_CLASSES
    assert get in uids.KNOWN_GET_SOP_CLASSES and get not in uids.KNOWN_STORAGE_SOP_CLASSES
    assert other not in uids.KNOWN_STORAGE_SOP_CLASSES | uids.KNOWN_GET_SOP_CLASSES
    assert raw not in uids.STORAGE_SOP_CLASSES  # the standard's list stays the standard's
    assert list(uids.KNOWN_STORAGE_SOP_CLASSES)[-1] == raw
    assert len(uids.KNOWN_STORAGE_SOP_CLASSES) == len(uids.STORAGE_SOP_CLASSES) + 1
    assert not negotiation.rarely_received(raw)
    # The same registration again is harmless; a different one is refused.
    assert private('1', 'Acme Raw Data Storage', storage=True) == raw
    with pytest.raises(ValueError, match='registered already'):
        uids.register_private_sop_class(raw, 'Acme Raw Data Storage')
    uids.unregister_private_sop_class(raw)
    uids.unregister_private_sop_class(raw)  # unknown: nothing happens
    assert raw not in uids.KNOWN_STORAGE_SOP_CLASSES and uids.sop_class_name(raw) == raw


@pytest.mark.parametrize(('uid', 'why'), [
    ('', 'PS3.5 9.1'),
    ('1..2', 'PS3.5 9.1'),
    ('1.02.3', 'PS3.5 9.1'),
    ('1.2.a', 'PS3.5 9.1'),
    ('1.2.3.', 'PS3.5 9.1'),
    (' 1.2.3', 'PS3.5 9.1'),
    ('1.' + '2' * 63, 'PS3.5 9.1'),
    ('1.2.840.10008', 'PS3.5 9.2.1'),
    ('1.2.840.10008.5.1.4.1.1.2', 'PS3.5 9.2.1'),
], ids=['empty', 'empty-component', 'leading-zero', 'letter', 'trailing-period', 'space',
        'too-long', 'dicom-root', 'dicom-class'])
def test_an_invalid_uid_is_refused(uid, why):
    with pytest.raises(ValueError, match=why):
        uids.register_private_sop_class(uid, 'Mine', storage=True)
    assert uids.private_sop_classes() == ()


def test_a_name_and_one_kind_are_required():
    with pytest.raises(ValueError, match='needs a name'):
        uids.register_private_sop_class(ROOT + '9', '  ')
    with pytest.raises(ValueError, match='both'):
        uids.register_private_sop_class(ROOT + '9', 'Both', storage=True, c_get=True)
    assert uids.private_sop_classes() == ()


def test_a_get_scu_proposes_a_private_storage_class_with_the_scp_role(private):
    raw = private('1', 'Acme Raw Data Storage', storage=True)
    registry = [(uids.STUDY_ROOT_GET_SOP_CLASS, [EXPLICIT]), (raw, [EXPLICIT])]
    proposal, roles = negotiation.select_proposal(registry, {uids.STUDY_ROOT_GET_SOP_CLASS}, ())
    assert [ctx.sop_class for ctx in proposal.values()] == [uids.STUDY_ROOT_GET_SOP_CLASS, raw]
    assert [(r.sop_class_uid, r.scu_role, r.scp_role) for r in roles] == [(raw, 0, 1)]


def test_a_private_get_class_proposes_the_storage_scp_role(private):
    get = private('2', 'Acme Retrieve - GET', c_get=True)
    registry = [(get, [EXPLICIT]), (CT, [EXPLICIT])]
    proposal, roles = negotiation.select_proposal(registry, {get}, ())
    assert len(proposal) == 2 and [r.sop_class_uid for r in roles] == [CT]


def study_query() -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = 'STUDY'
    return query


class PrivateArchive(ae.AE):
    """A C-GET SCP over data sets, for the Study Root and for ``get_classes``."""

    def __init__(self, items: list[Dataset], get_classes=()) -> None:
        super().__init__('PRIVATE', 0, host='127.0.0.1')
        self.items = items

        @sc.sop_classes([uids.STUDY_ROOT_GET_SOP_CLASS, *get_classes])
        def get_scp(asce, ctx, msg):
            sc.qr_get_scp(asce, ctx, msg)

        self.add_scp(get_scp)
        self.add_scu(sc.storage_scu, sorted({item.SOPClassUID for item in items}))

    def on_receive_get(self, context, ds):
        return len(self.items), iter(self.items)


def test_commands_get_receives_a_private_storage_class(private, tmp_path):
    raw = private('1', 'Acme Raw Data Storage', storage=True)
    items = [dataset(raw), dataset(CT)]
    with serving(PrivateArchive(items)) as srv:
        got = commands.get('SCU', remote(srv), study_query(), tmp_path / 'in')
    assert got == commands.CGetResponse(0, 2, 0, 0)
    assert sorted(p.name for p in (tmp_path / 'in').iterdir()) == sorted(
        f'{item.SOPInstanceUID}.dcm' for item in items)


def test_a_private_get_class_receives_its_instances(private, tmp_path):
    get_class = private('2', 'Acme Retrieve - GET', c_get=True)
    items = [dataset(CT), dataset(CT)]
    client = fast(ae.ClientStorageAE(tmp_path / 'in', 'SCU')).add_scu(sc.qr_get_scu, [get_class])
    client.add_scu(sc.storage_scu, [CT])
    with serving(PrivateArchive(items, [get_class])) as srv:
        with client.request_association(remote(srv)) as assoc:
            get = assoc.get_scu(get_class)(study_query(), 1)
            assert len(list(get)) == 2
    assert int(get.status) == 0 and get.response.num_of_completed_sub_ops == 2


def test_a_storage_scp_for_a_private_class_keeps_its_files(private, tmp_path):
    raw = private('1', 'Acme Raw Data Storage', storage=True)

    @sc.store_in_file
    @sc.sop_classes([raw])
    def raw_storage_scp(asce, ctx, msg):
        sc.storage_scp(asce, ctx, msg)

    srv = ae.StorageAE(tmp_path / 'in', 'RAWSCP', 0, host='127.0.0.1')
    srv.add_scp(sc.storage_scp).add_scp(raw_storage_scp)
    client = fast(ae.ClientAE('SCU')).add_scu(sc.storage_scu, [raw, CT])
    items = [dataset(raw), dataset(CT)]
    with serving(srv):
        with client.request_association(remote(srv)) as assoc:
            for number, item in enumerate(items, start=1):
                status = assoc.get_scu(item.SOPClassUID)(item, number)
                assert status == statuses.SUCCESS
    assert sorted(p.name for p in (tmp_path / 'in').iterdir()) == sorted(
        f'{item.SOPInstanceUID}.dcm' for item in items)
