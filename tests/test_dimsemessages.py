"""Tests of pynetdicom2.dimsemessages: command sets, fragmentation and the reassembler.

The byte fixtures below are assembled by hand from the command tables of PS3.7 9.3 (C-xxx)
and 10.3 (N-xxx) and the command dictionary of PS3.7 Annex E: Implicit VR Little Endian,
each element being tag group (2 bytes LE), tag element (2 bytes LE), value length (4 bytes LE)
and the value; UIDs are padded to an even length with NUL, AE titles with a space; (0000,0000)
Command Group Length (UL) comes first and counts the bytes after it.
"""

from __future__ import annotations

import io
import struct

import pytest
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import pdu
from pynetdicom2.exceptions import DIMSEProcessingError

# --- hand-written command sets, one per message type ---------------------------------------

VERIFICATION = '1.2.840.10008.1.1'
CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2'
STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1'
STUDY_ROOT_MOVE = '1.2.840.10008.5.1.4.1.2.2.2'
STUDY_ROOT_GET = '1.2.840.10008.5.1.4.1.2.2.3'
STORAGE_COMMITMENT = '1.2.840.10008.1.20.1'
STORAGE_COMMITMENT_INSTANCE = '1.2.840.10008.1.20.1.1'
MPPS = '1.2.840.10008.3.1.2.3.3'
PRINTER = '1.2.840.10008.5.1.1.16'
PRINTER_INSTANCE = '1.2.840.10008.5.1.1.17'
FILM_SESSION = '1.2.840.10008.5.1.1.1'

C_ECHO_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x38\x00\x00\x00'  # (0000,0000) UL 56
    b'\x00\x00\x02\x00' b'\x12\x00\x00\x00' b'1.2.840.10008.1.1\x00'  # (0000,0002) UI
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x30\x00'  # (0000,0100) Command Field 0030H
    b'\x00\x00\x10\x01' b'\x02\x00\x00\x00' b'\x01\x00'  # (0000,0110) Message ID 1
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'  # (0000,0800) no data set
)
C_ECHO_RSP = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x42\x00\x00\x00'  # group length 66
    b'\x00\x00\x02\x00' b'\x12\x00\x00\x00' b'1.2.840.10008.1.1\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x30\x80'  # 8030H
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x01\x00'  # (0000,0120) responding to 1
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
    b'\x00\x00\x00\x09' b'\x02\x00\x00\x00' b'\x00\x00'  # (0000,0900) Status 0000H
)
C_STORE_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x74\x00\x00\x00'  # group length 116
    b'\x00\x00\x02\x00' b'\x1a\x00\x00\x00' b'1.2.840.10008.5.1.4.1.1.2\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x01\x00'  # 0001H
    b'\x00\x00\x10\x01' b'\x02\x00\x00\x00' b'\x07\x00'  # Message ID 7
    b'\x00\x00\x00\x07' b'\x02\x00\x00\x00' b'\x00\x00'  # (0000,0700) Priority MEDIUM
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x00'  # data set follows
    b'\x00\x00\x00\x10' b'\x08\x00\x00\x00' b'1.2.3.4\x00'  # (0000,1000) instance
    b'\x00\x00\x30\x10' b'\x08\x00\x00\x00' b'MOVESCU '  # (0000,1030) AE
    b'\x00\x00\x31\x10' b'\x02\x00\x00\x00' b'\x05\x00'  # (0000,1031) originator id 5
)
C_STORE_RSP = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x5a\x00\x00\x00'  # group length 90
    b'\x00\x00\x02\x00' b'\x1a\x00\x00\x00' b'1.2.840.10008.5.1.4.1.1.2\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x01\x80'  # 8001H
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x07\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
    b'\x00\x00\x00\x09' b'\x02\x00\x00\x00' b'\x00\x00'
    b'\x00\x00\x00\x10' b'\x08\x00\x00\x00' b'1.2.3.4\x00'
)
C_FIND_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x4c\x00\x00\x00'  # group length 76
    b'\x00\x00\x02\x00' b'\x1c\x00\x00\x00' b'1.2.840.10008.5.1.4.1.2.2.1\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x20\x00'  # 0020H
    b'\x00\x00\x10\x01' b'\x02\x00\x00\x00' b'\x02\x00'
    b'\x00\x00\x00\x07' b'\x02\x00\x00\x00' b'\x00\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x00'
)
C_FIND_RSP = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x4c\x00\x00\x00'  # group length 76
    b'\x00\x00\x02\x00' b'\x1c\x00\x00\x00' b'1.2.840.10008.5.1.4.1.2.2.1\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x20\x80'  # 8020H
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x02\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x00'
    b'\x00\x00\x00\x09' b'\x02\x00\x00\x00' b'\x00\xff'  # Pending FF00H
)
C_GET_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x4c\x00\x00\x00'  # group length 76
    b'\x00\x00\x02\x00' b'\x1c\x00\x00\x00' b'1.2.840.10008.5.1.4.1.2.2.3\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x10\x00'  # 0010H
    b'\x00\x00\x10\x01' b'\x02\x00\x00\x00' b'\x03\x00'
    b'\x00\x00\x00\x07' b'\x02\x00\x00\x00' b'\x01\x00'  # Priority HIGH
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x00'
)
C_GET_RSP = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x6a\x00\x00\x00'  # group length 106
    b'\x00\x00\x02\x00' b'\x1c\x00\x00\x00' b'1.2.840.10008.5.1.4.1.2.2.3\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x10\x80'  # 8010H
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x03\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
    b'\x00\x00\x00\x09' b'\x02\x00\x00\x00' b'\x00\xb0'  # Warning B000H
    b'\x00\x00\x21\x10' b'\x02\x00\x00\x00' b'\x04\x00'  # (0000,1021) completed 4
    b'\x00\x00\x22\x10' b'\x02\x00\x00\x00' b'\x00\x00'  # (0000,1022) failed 0
    b'\x00\x00\x23\x10' b'\x02\x00\x00\x00' b'\x01\x00'  # (0000,1023) warning 1
)
C_MOVE_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x5c\x00\x00\x00'  # group length 92
    b'\x00\x00\x02\x00' b'\x1c\x00\x00\x00' b'1.2.840.10008.5.1.4.1.2.2.2\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x21\x00'  # 0021H
    b'\x00\x00\x10\x01' b'\x02\x00\x00\x00' b'\x04\x00'
    b'\x00\x00\x00\x06' b'\x08\x00\x00\x00' b'STORESCP'  # (0000,0600) Move Destination
    b'\x00\x00\x00\x07' b'\x02\x00\x00\x00' b'\x02\x00'  # Priority LOW
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x00'
)
C_MOVE_RSP = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x74\x00\x00\x00'  # group length 116
    b'\x00\x00\x02\x00' b'\x1c\x00\x00\x00' b'1.2.840.10008.5.1.4.1.2.2.2\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x21\x80'  # 8021H
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x04\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
    b'\x00\x00\x00\x09' b'\x02\x00\x00\x00' b'\x00\xff'
    b'\x00\x00\x20\x10' b'\x02\x00\x00\x00' b'\x03\x00'  # (0000,1020) remaining 3
    b'\x00\x00\x21\x10' b'\x02\x00\x00\x00' b'\x01\x00'
    b'\x00\x00\x22\x10' b'\x02\x00\x00\x00' b'\x00\x00'
    b'\x00\x00\x23\x10' b'\x02\x00\x00\x00' b'\x00\x00'
)
C_CANCEL_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x1e\x00\x00\x00'  # group length 30
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\xff\x0f'  # 0FFFH
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x02\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
)
N_EVENT_REPORT_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x62\x00\x00\x00'  # group length 98
    b'\x00\x00\x02\x00' b'\x14\x00\x00\x00' b'1.2.840.10008.1.20.1'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x00\x01'  # 0100H
    b'\x00\x00\x10\x01' b'\x02\x00\x00\x00' b'\x09\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x00'
    b'\x00\x00\x00\x10' b'\x16\x00\x00\x00' b'1.2.840.10008.1.20.1.1'
    b'\x00\x00\x02\x10' b'\x02\x00\x00\x00' b'\x01\x00'  # (0000,1002) Event Type ID 1
)
N_EVENT_REPORT_RSP = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x6c\x00\x00\x00'  # group length 108
    b'\x00\x00\x02\x00' b'\x14\x00\x00\x00' b'1.2.840.10008.1.20.1'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x00\x81'  # 8100H
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x09\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
    b'\x00\x00\x00\x09' b'\x02\x00\x00\x00' b'\x00\x00'
    b'\x00\x00\x00\x10' b'\x16\x00\x00\x00' b'1.2.840.10008.1.20.1.1'
    b'\x00\x00\x02\x10' b'\x02\x00\x00\x00' b'\x01\x00'
)
N_GET_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x6a\x00\x00\x00'  # group length 106
    b'\x00\x00\x03\x00' b'\x16\x00\x00\x00' b'1.2.840.10008.5.1.1.16'  # (0000,0003)
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x10\x01'  # 0110H
    b'\x00\x00\x10\x01' b'\x02\x00\x00\x00' b'\x0a\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
    b'\x00\x00\x01\x10' b'\x16\x00\x00\x00' b'1.2.840.10008.5.1.1.17'  # (0000,1001)
    b'\x00\x00\x05\x10' b'\x08\x00\x00\x00'  # (0000,1005) AT: (2110,0010) (2110,0020)
    b'\x10\x21\x10\x00' b'\x10\x21\x20\x00'
)
N_GET_RSP = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x46\x00\x00\x00'  # group length 70
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x10\x81'  # 8110H
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x0a\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x00'
    b'\x00\x00\x00\x09' b'\x02\x00\x00\x00' b'\x00\x00'
    b'\x00\x00\x00\x10' b'\x16\x00\x00\x00' b'1.2.840.10008.5.1.1.17'
)
N_SET_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x4e\x00\x00\x00'  # group length 78
    b'\x00\x00\x03\x00' b'\x18\x00\x00\x00' b'1.2.840.10008.3.1.2.3.3\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x20\x01'  # 0120H
    b'\x00\x00\x10\x01' b'\x02\x00\x00\x00' b'\x0b\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x00'
    b'\x00\x00\x01\x10' b'\x08\x00\x00\x00' b'1.2.3.4\x00'
)
N_SET_RSP = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x58\x00\x00\x00'  # group length 88
    b'\x00\x00\x02\x00' b'\x18\x00\x00\x00' b'1.2.840.10008.3.1.2.3.3\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x20\x81'  # 8120H
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x0b\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
    b'\x00\x00\x00\x09' b'\x02\x00\x00\x00' b'\x00\x00'
    b'\x00\x00\x00\x10' b'\x08\x00\x00\x00' b'1.2.3.4\x00'
)
N_ACTION_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x62\x00\x00\x00'  # group length 98
    b'\x00\x00\x03\x00' b'\x14\x00\x00\x00' b'1.2.840.10008.1.20.1'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x30\x01'  # 0130H
    b'\x00\x00\x10\x01' b'\x02\x00\x00\x00' b'\x0c\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x00'
    b'\x00\x00\x01\x10' b'\x16\x00\x00\x00' b'1.2.840.10008.1.20.1.1'
    b'\x00\x00\x08\x10' b'\x02\x00\x00\x00' b'\x01\x00'  # (0000,1008) Action Type ID 1
)
N_ACTION_RSP = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x6c\x00\x00\x00'  # group length 108
    b'\x00\x00\x02\x00' b'\x14\x00\x00\x00' b'1.2.840.10008.1.20.1'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x30\x81'  # 8130H
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x0c\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
    b'\x00\x00\x00\x09' b'\x02\x00\x00\x00' b'\x00\x00'
    b'\x00\x00\x00\x10' b'\x16\x00\x00\x00' b'1.2.840.10008.1.20.1.1'
    b'\x00\x00\x08\x10' b'\x02\x00\x00\x00' b'\x01\x00'
)
N_CREATE_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x4e\x00\x00\x00'  # group length 78
    b'\x00\x00\x02\x00' b'\x18\x00\x00\x00' b'1.2.840.10008.3.1.2.3.3\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x40\x01'  # 0140H
    b'\x00\x00\x10\x01' b'\x02\x00\x00\x00' b'\x0d\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x00'
    b'\x00\x00\x00\x10' b'\x08\x00\x00\x00' b'1.2.3.4\x00'
)
N_CREATE_RSP = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x58\x00\x00\x00'  # group length 88
    b'\x00\x00\x02\x00' b'\x18\x00\x00\x00' b'1.2.840.10008.3.1.2.3.3\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x40\x81'  # 8140H
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x0d\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
    b'\x00\x00\x00\x09' b'\x02\x00\x00\x00' b'\x00\x00'
    b'\x00\x00\x00\x10' b'\x08\x00\x00\x00' b'1.2.3.4\x00'
)
N_DELETE_RQ = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x4c\x00\x00\x00'  # group length 76
    b'\x00\x00\x03\x00' b'\x16\x00\x00\x00' b'1.2.840.10008.5.1.1.1\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x50\x01'  # 0150H
    b'\x00\x00\x10\x01' b'\x02\x00\x00\x00' b'\x0e\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
    b'\x00\x00\x01\x10' b'\x08\x00\x00\x00' b'1.2.3.4\x00'
)
N_DELETE_RSP = (
    b'\x00\x00\x00\x00' b'\x04\x00\x00\x00' b'\x56\x00\x00\x00'  # group length 86
    b'\x00\x00\x02\x00' b'\x16\x00\x00\x00' b'1.2.840.10008.5.1.1.1\x00'
    b'\x00\x00\x00\x01' b'\x02\x00\x00\x00' b'\x50\x81'  # 8150H
    b'\x00\x00\x20\x01' b'\x02\x00\x00\x00' b'\x0e\x00'
    b'\x00\x00\x00\x08' b'\x02\x00\x00\x00' b'\x01\x01'
    b'\x00\x00\x00\x09' b'\x02\x00\x00\x00' b'\x00\x00'
    b'\x00\x00\x00\x10' b'\x08\x00\x00\x00' b'1.2.3.4\x00'
)

DATA = b'\x08\x00\x05\x00\x0a\x00\x00\x00ISO_IR 100'  # any encoded data set will do

# (class, property values, whether a data set follows, the hand-written command set)
FIXTURES = [
    (dm.CEchoRQMessage, {'sop_class_uid': VERIFICATION, 'message_id': 1}, False, C_ECHO_RQ),
    (dm.CEchoRSPMessage,
     {'sop_class_uid': VERIFICATION, 'message_id_being_responded_to': 1, 'status': 0},
     False, C_ECHO_RSP),
    (dm.CStoreRQMessage,
     {'sop_class_uid': CT_IMAGE_STORAGE, 'message_id': 7, 'priority': dm.PRIORITY_MEDIUM,
      'affected_sop_instance_uid': '1.2.3.4', 'move_originator_aet': 'MOVESCU',
      'move_originator_message_id': 5},
     True, C_STORE_RQ),
    (dm.CStoreRSPMessage,
     {'sop_class_uid': CT_IMAGE_STORAGE, 'message_id_being_responded_to': 7, 'status': 0,
      'affected_sop_instance_uid': '1.2.3.4'},
     False, C_STORE_RSP),
    (dm.CFindRQMessage,
     {'sop_class_uid': STUDY_ROOT_FIND, 'message_id': 2, 'priority': dm.PRIORITY_MEDIUM},
     True, C_FIND_RQ),
    (dm.CFindRSPMessage,
     {'sop_class_uid': STUDY_ROOT_FIND, 'message_id_being_responded_to': 2, 'status': 0xFF00},
     True, C_FIND_RSP),
    (dm.CGetRQMessage,
     {'sop_class_uid': STUDY_ROOT_GET, 'message_id': 3, 'priority': dm.PRIORITY_HIGH},
     True, C_GET_RQ),
    (dm.CGetRSPMessage,
     {'sop_class_uid': STUDY_ROOT_GET, 'message_id_being_responded_to': 3, 'status': 0xB000,
      'num_of_completed_sub_ops': 4, 'num_of_failed_sub_ops': 0,
      'num_of_warning_sub_ops': 1},
     False, C_GET_RSP),
    (dm.CMoveRQMessage,
     {'sop_class_uid': STUDY_ROOT_MOVE, 'message_id': 4, 'move_destination': 'STORESCP',
      'priority': dm.PRIORITY_LOW},
     True, C_MOVE_RQ),
    (dm.CMoveRSPMessage,
     {'sop_class_uid': STUDY_ROOT_MOVE, 'message_id_being_responded_to': 4, 'status': 0xFF00,
      'num_of_remaining_sub_ops': 3, 'num_of_completed_sub_ops': 1,
      'num_of_failed_sub_ops': 0, 'num_of_warning_sub_ops': 0},
     False, C_MOVE_RSP),
    (dm.CCancelRQMessage, {'message_id_being_responded_to': 2}, False, C_CANCEL_RQ),
    (dm.NEventReportRQMessage,
     {'sop_class_uid': STORAGE_COMMITMENT, 'message_id': 9,
      'affected_sop_instance_uid': STORAGE_COMMITMENT_INSTANCE, 'event_type_id': 1},
     True, N_EVENT_REPORT_RQ),
    (dm.NEventReportRSPMessage,
     {'sop_class_uid': STORAGE_COMMITMENT, 'message_id_being_responded_to': 9, 'status': 0,
      'affected_sop_instance_uid': STORAGE_COMMITMENT_INSTANCE, 'event_type_id': 1},
     False, N_EVENT_REPORT_RSP),
    (dm.NGetRQMessage,
     {'sop_class_uid': PRINTER, 'message_id': 10, 'requested_sop_instance_uid': PRINTER_INSTANCE,
      'attribute_identifier_list': [0x21100010, 0x21100020]},
     False, N_GET_RQ),
    (dm.NGetRSPMessage,
     {'message_id_being_responded_to': 10, 'status': 0,
      'affected_sop_instance_uid': PRINTER_INSTANCE},
     True, N_GET_RSP),
    (dm.NSetRQMessage,
     {'sop_class_uid': MPPS, 'message_id': 11, 'requested_sop_instance_uid': '1.2.3.4'},
     True, N_SET_RQ),
    (dm.NSetRSPMessage,
     {'sop_class_uid': MPPS, 'message_id_being_responded_to': 11, 'status': 0,
      'affected_sop_instance_uid': '1.2.3.4'},
     False, N_SET_RSP),
    (dm.NActionRQMessage,
     {'sop_class_uid': STORAGE_COMMITMENT, 'message_id': 12,
      'requested_sop_instance_uid': STORAGE_COMMITMENT_INSTANCE, 'action_type_id': 1},
     True, N_ACTION_RQ),
    (dm.NActionRSPMessage,
     {'sop_class_uid': STORAGE_COMMITMENT, 'message_id_being_responded_to': 12, 'status': 0,
      'affected_sop_instance_uid': STORAGE_COMMITMENT_INSTANCE, 'action_type_id': 1},
     False, N_ACTION_RSP),
    (dm.NCreateRQMessage,
     {'sop_class_uid': MPPS, 'message_id': 13, 'affected_sop_instance_uid': '1.2.3.4'},
     True, N_CREATE_RQ),
    (dm.NCreateRSPMessage,
     {'sop_class_uid': MPPS, 'message_id_being_responded_to': 13, 'status': 0,
      'affected_sop_instance_uid': '1.2.3.4'},
     False, N_CREATE_RSP),
    (dm.NDeleteRQMessage,
     {'sop_class_uid': FILM_SESSION, 'message_id': 14, 'requested_sop_instance_uid': '1.2.3.4'},
     False, N_DELETE_RQ),
    (dm.NDeleteRSPMessage,
     {'sop_class_uid': FILM_SESSION, 'message_id_being_responded_to': 14, 'status': 0,
      'affected_sop_instance_uid': '1.2.3.4'},
     False, N_DELETE_RSP),
]
FIXTURE_IDS = [cls.__name__ for cls, *_ in FIXTURES]

# PS3.7 9.3 / 10.3 command tables, less Command Field and Command Data Set Type (set apart).
EXPECTED_COMMAND_FIELDS = {
    dm.CEchoRQMessage: ['CommandGroupLength', 'AffectedSOPClassUID', 'MessageID'],
    dm.CEchoRSPMessage: ['CommandGroupLength', 'AffectedSOPClassUID',
                         'MessageIDBeingRespondedTo', 'Status'],
    dm.CStoreRQMessage: ['CommandGroupLength', 'AffectedSOPClassUID', 'MessageID', 'Priority',
                         'AffectedSOPInstanceUID', 'MoveOriginatorApplicationEntityTitle',
                         'MoveOriginatorMessageID'],
    dm.CStoreRSPMessage: ['CommandGroupLength', 'AffectedSOPClassUID',
                          'MessageIDBeingRespondedTo', 'Status', 'AffectedSOPInstanceUID'],
    dm.CFindRQMessage: ['CommandGroupLength', 'AffectedSOPClassUID', 'MessageID', 'Priority'],
    dm.CFindRSPMessage: ['CommandGroupLength', 'AffectedSOPClassUID',
                         'MessageIDBeingRespondedTo', 'Status'],
    dm.CGetRQMessage: ['CommandGroupLength', 'AffectedSOPClassUID', 'MessageID', 'Priority'],
    dm.CGetRSPMessage: ['CommandGroupLength', 'AffectedSOPClassUID', 'MessageIDBeingRespondedTo',
                        'Status', 'NumberOfRemainingSuboperations',
                        'NumberOfCompletedSuboperations', 'NumberOfFailedSuboperations',
                        'NumberOfWarningSuboperations'],
    dm.CMoveRQMessage: ['CommandGroupLength', 'AffectedSOPClassUID', 'MessageID',
                        'MoveDestination', 'Priority'],
    dm.CMoveRSPMessage: ['CommandGroupLength', 'AffectedSOPClassUID',
                         'MessageIDBeingRespondedTo', 'Status',
                         'NumberOfRemainingSuboperations', 'NumberOfCompletedSuboperations',
                         'NumberOfFailedSuboperations', 'NumberOfWarningSuboperations'],
    dm.CCancelRQMessage: ['CommandGroupLength', 'MessageIDBeingRespondedTo'],
    dm.NEventReportRQMessage: ['CommandGroupLength', 'AffectedSOPClassUID', 'MessageID',
                               'AffectedSOPInstanceUID', 'EventTypeID'],
    dm.NEventReportRSPMessage: ['CommandGroupLength', 'AffectedSOPClassUID',
                                'MessageIDBeingRespondedTo', 'Status',
                                'AffectedSOPInstanceUID', 'EventTypeID'],
    dm.NGetRQMessage: ['CommandGroupLength', 'RequestedSOPClassUID', 'MessageID',
                       'RequestedSOPInstanceUID', 'AttributeIdentifierList'],
    dm.NGetRSPMessage: ['CommandGroupLength', 'MessageIDBeingRespondedTo', 'Status',
                        'AffectedSOPInstanceUID'],
    dm.NSetRQMessage: ['CommandGroupLength', 'RequestedSOPClassUID', 'MessageID',
                       'RequestedSOPInstanceUID'],
    dm.NSetRSPMessage: ['CommandGroupLength', 'AffectedSOPClassUID',
                        'MessageIDBeingRespondedTo', 'Status', 'AffectedSOPInstanceUID'],
    dm.NActionRQMessage: ['CommandGroupLength', 'RequestedSOPClassUID', 'MessageID',
                          'RequestedSOPInstanceUID', 'ActionTypeID'],
    dm.NActionRSPMessage: ['CommandGroupLength', 'AffectedSOPClassUID',
                           'MessageIDBeingRespondedTo', 'Status', 'AffectedSOPInstanceUID',
                           'ActionTypeID'],
    dm.NCreateRQMessage: ['CommandGroupLength', 'AffectedSOPClassUID', 'MessageID',
                          'AffectedSOPInstanceUID'],
    dm.NCreateRSPMessage: ['CommandGroupLength', 'AffectedSOPClassUID',
                           'MessageIDBeingRespondedTo', 'Status', 'AffectedSOPInstanceUID'],
    dm.NDeleteRQMessage: ['CommandGroupLength', 'RequestedSOPClassUID', 'MessageID',
                          'RequestedSOPInstanceUID'],
    dm.NDeleteRSPMessage: ['CommandGroupLength', 'AffectedSOPClassUID',
                           'MessageIDBeingRespondedTo', 'Status', 'AffectedSOPInstanceUID'],
}

# PS3.7 Annex E, Command Field values.
EXPECTED_COMMAND_FIELD = {
    dm.CStoreRQMessage: 0x0001, dm.CStoreRSPMessage: 0x8001,
    dm.CGetRQMessage: 0x0010, dm.CGetRSPMessage: 0x8010,
    dm.CFindRQMessage: 0x0020, dm.CFindRSPMessage: 0x8020,
    dm.CMoveRQMessage: 0x0021, dm.CMoveRSPMessage: 0x8021,
    dm.CEchoRQMessage: 0x0030, dm.CEchoRSPMessage: 0x8030,
    dm.NEventReportRQMessage: 0x0100, dm.NEventReportRSPMessage: 0x8100,
    dm.NGetRQMessage: 0x0110, dm.NGetRSPMessage: 0x8110,
    dm.NSetRQMessage: 0x0120, dm.NSetRSPMessage: 0x8120,
    dm.NActionRQMessage: 0x0130, dm.NActionRSPMessage: 0x8130,
    dm.NCreateRQMessage: 0x0140, dm.NCreateRSPMessage: 0x8140,
    dm.NDeleteRQMessage: 0x0150, dm.NDeleteRSPMessage: 0x8150,
    dm.CCancelRQMessage: 0x0FFF,
}


# --- helpers -------------------------------------------------------------------------------


class Context:
    """Stands in for the negotiated presentation context (opaque to the decoder)."""

    def __init__(self, pc_id: int) -> None:
        self.id = pc_id


CONTEXTS = {1: Context(1), 3: Context(3), 5: Context(5)}


class SpyFile(io.BytesIO):
    """A BytesIO that records read sizes, writes and closing."""

    def __init__(self, data: bytes = b'') -> None:
        super().__init__(data)
        self.read_sizes: list[int | None] = []
        self.writes = 0
        self.close_calls = 0

    def read(self, size: int | None = -1) -> bytes:
        self.read_sizes.append(size)
        return super().read(size)

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        self.writes += 1
        return super().write(data)

    def close(self) -> None:
        self.close_calls += 1
        super().close()


def make(cls: type[dm.DIMSEMessage], values: dict, data_set=None) -> dm.DIMSEMessage:
    msg = cls()
    for name, value in values.items():
        setattr(msg, name, value)
    if data_set is not None:
        msg.data_set = data_set
    return msg


def command_bytes(msg: dm.DIMSEMessage) -> bytes:
    """The command set as sent: the command PDVs' payloads of an unlimited encode."""
    payloads = [
        bytes(item.data_value[1:])
        for p_data in msg.encode(1, 0)
        for item in p_data.data_value_items
        if item.data_value[0] & 1
    ]
    return b''.join(payloads)


def pdv(pc_id: int, control: int, payload: bytes) -> pdu.PresentationDataValueItem:
    # A memoryview, as a decoded PDU gives, to make sure nothing assumes bytes.
    return pdu.PresentationDataValueItem(pc_id, memoryview(bytes((control,)) + payload))


def command_pdv(raw: bytes, pc_id: int = 1) -> pdu.PresentationDataValueItem:
    return pdv(pc_id, dm.COMMAND_LAST_FRAGMENT, raw)


def decoder(store_in_file=(), get_file_cb=None) -> dm.DIMSEDecoder:
    return dm.DIMSEDecoder(dict(CONTEXTS), store_in_file, get_file_cb)


def feed_all(dec: dm.DIMSEDecoder, pdus) -> list[tuple[dm.DIMSEMessage, int]]:
    """Feed PDUs, each through its wire bytes and back when the codec can decode them."""
    received = []
    for p_data in pdus:
        received.extend(dec.process(_through_the_wire(p_data)))
    return received


def _through_the_wire(p_data: pdu.PDataTfPDU) -> pdu.PDataTfPDU:
    # Encoded and decoded again: the PDVs' values become memoryview slices of a fresh
    # receive buffer, one per PDU, as the upper layer hands them over.
    return pdu.PDataTfPDU.decode(bytearray(p_data.encode()))


def control_bytes(pdus) -> list[int]:
    return [item.data_value[0] for p_data in pdus for item in p_data.data_value_items]


def assert_fits(pdus, max_pdu_length: int) -> None:
    for p_data in pdus:
        variable_field = sum(4 + 1 + len(item.data_value) for item in p_data.data_value_items)
        assert variable_field <= max_pdu_length
        for item in p_data.data_value_items:
            assert len(item.data_value) - 1 <= max_pdu_length - dm.PDV_HEADER_LENGTH


def payload(pdus, command: bool) -> bytes:
    return b''.join(
        bytes(item.data_value[1:])
        for p_data in pdus
        for item in p_data.data_value_items
        if bool(item.data_value[0] & 1) == command
    )


# --- constants and helpers -----------------------------------------------------------------


def test_constants_follow_the_standard() -> None:
    assert (dm.NO_DATASET, dm.HAS_DATASET) == (0x0101, 0x0001)
    assert (dm.PRIORITY_LOW, dm.PRIORITY_MEDIUM, dm.PRIORITY_HIGH) == (2, 0, 1)
    assert dm.PDV_HEADER_LENGTH == 6
    assert (dm.COMMAND_FRAGMENT, dm.COMMAND_LAST_FRAGMENT) == (1, 3)
    assert (dm.DATA_FRAGMENT, dm.DATA_LAST_FRAGMENT) == (0, 2)
    assert dm.COMMAND_GROUP_LENGTH_TAG == (0, 0)


def test_value_or_none() -> None:
    ds = Dataset()
    ds.MessageID = 5
    ds.AffectedSOPInstanceUID = ''
    ds.Priority = None
    assert dm.value_or_none(ds['MessageID']) == 5
    assert dm.value_or_none(ds['AffectedSOPInstanceUID']) is None
    assert dm.value_or_none(ds['Priority']) is None
    assert dm.value_or_none(None) is None
    ds.Status = 0
    assert dm.value_or_none(ds['Status']) == 0  # zero is a value, not an absence


def test_chunks() -> None:
    assert list(dm.chunks(b'abcde', 2)) == [(b'ab', True), (b'cd', True), (b'e', False)]
    assert list(dm.chunks(b'abcd', 2)) == [(b'ab', True), (b'cd', False)]
    assert list(dm.chunks(b'', 4)) == [(b'', False)]
    assert list(dm.chunks([1, 2, 3], 5)) == [([1, 2, 3], False)]
    with pytest.raises(ValueError):
        list(dm.chunks(b'abc', 0))


def test_fragment_sizes_follow_the_peer_maximum() -> None:
    data = bytes(range(24))
    pieces = [(bytes(c), b) for c, b in dm.fragment(data, 16, 0, 2)]
    assert pieces == [(data[:10], 0), (data[10:20], 0), (data[20:], 2)]
    assert [(bytes(c), b) for c, b in dm.fragment(data, 0, 1, 3)] == [(data, 3)]
    assert [(bytes(c), b) for c, b in dm.fragment(data, 8, 1, 3)][-1] == (data[-2:], 3)
    assert [(bytes(c), b) for c, b in dm.fragment(b'', 16, 0, 2)] == [(b'', 2)]


@pytest.mark.parametrize('max_pdu_length', [0, 8, 9, 16, 17, 1001, 16383])
@pytest.mark.parametrize('size', [0, 1, 2, 9, 10, 11, 4097])
def test_every_fragment_is_even_whatever_the_maximum_or_the_data(max_pdu_length, size) -> None:
    """PS3.8 E.1: fragments have an even length; an odd maximum loses a byte, an odd data
    set (a deflated one before its PS3.5 A.5 pad) gets a NUL at its end."""
    data = bytes(range(256)) * 17
    data = data[:size]
    for pieces in (dm.fragment(data, max_pdu_length, 0, 2),
                   dm.fragment_file(io.BytesIO(data), max_pdu_length, 0, 2)):
        chunks = [bytes(c) for c, _ in pieces]
        assert all(len(c) % 2 == 0 for c in chunks), [len(c) for c in chunks]
        assert all(max_pdu_length == 0 or len(c) + 6 <= max_pdu_length for c in chunks)
        assert b''.join(chunks) == data + b'\0' * (size % 2)


def test_fragment_slices_without_copying() -> None:
    data = bytes(100)
    chunk, _bit = next(dm.fragment(data, 16, 0, 2))
    assert isinstance(chunk, memoryview) and chunk.obj is data


def test_fragment_cuts_by_bytes_whatever_the_buffer() -> None:
    import array

    words = array.array('H', range(10))  # 20 bytes
    pieces = [(bytes(c), b) for c, b in dm.fragment(words, 16, 0, 2)]
    assert pieces == [(words.tobytes()[:10], 0), (words.tobytes()[10:], 2)]
    msg = make(dm.CStoreRQMessage, {'message_id': 1}, memoryview(words))
    [(received, _)] = feed_all(decoder(), msg.encode(1, 16))
    assert received.data_set == words.tobytes()


@pytest.mark.parametrize('max_pdu_length', [1, 2, 5, 6, 7, -1])
def test_fragment_refuses_a_maximum_without_room(max_pdu_length: int) -> None:
    with pytest.raises(DIMSEProcessingError, match='no room'):
        list(dm.fragment(b'abc', max_pdu_length, 0, 2))
    with pytest.raises(DIMSEProcessingError, match='no room'):
        list(dm.fragment_file(io.BytesIO(b'abc'), max_pdu_length, 0, 2))


def test_fragment_file_reads_in_chunks() -> None:
    fp = SpyFile(bytes(range(25)))
    pieces = list(dm.fragment_file(fp, 16, 0, 2))
    assert pieces == [(bytes(range(10)), 0), (bytes(range(10, 20)), 0),
                      (bytes(range(20, 25)) + b'\0', 2)]
    # Reads of one fragment each; the short one at the end is retried once for the rest.
    assert fp.read_sizes == [10, 10, 10, 5]
    assert fp.close_calls == 0  # closing is encode()'s business


def test_fragment_file_unlimited_reads_bounded_chunks() -> None:
    fp = SpyFile(bytes(dm.UNLIMITED_READ_SIZE + 2))
    pieces = list(dm.fragment_file(fp, 0, 0, 2))
    assert [len(c) for c, _ in pieces] == [dm.UNLIMITED_READ_SIZE, 2]
    assert max(fp.read_sizes) == dm.UNLIMITED_READ_SIZE


def test_fragment_file_empty_and_short_reads() -> None:
    assert list(dm.fragment_file(io.BytesIO(), 16, 0, 2)) == [(b'', 2)]

    class Trickle(io.RawIOBase):
        """Gives at most 3 bytes per read, like a pipe."""

        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            piece, self.data = self.data[:min(size, 3)], self.data[min(size, 3):]
            return piece

    # Short reads are gathered into whole fragments: a trickle of 3 bytes per read must not
    # become odd fragments (PS3.8 E.1).
    pieces = list(dm.fragment_file(Trickle(b'abcdefghij' * 3), 16, 0, 2))
    assert [(c, b) for c, b in pieces] == [(b'abcdefghij', 0), (b'abcdefghij', 0),
                                           (b'abcdefghij', 2)]


def test_dimse_property_reads_and_writes_the_command_set() -> None:
    class Probe(dm.DIMSERequestMessage):
        command_field = 0x0030
        command_fields: list[str] = []
        error_id = dm.dimse_property((0x0000, 0x0903))

    msg = Probe()
    assert msg.error_id is None
    assert Tag(0x0903) not in msg.command_set
    msg.error_id = 9
    assert msg.command_set[0x0903].VR == 'US'
    assert msg.command_set.ErrorID == 9
    msg.command_set.ErrorID = 10
    assert msg.error_id == 10


# --- messages --------------------------------------------------------------------------------


def test_message_type_maps_all_23_command_fields() -> None:
    assert len(dm.MESSAGE_TYPE) == 23
    assert 0x0FFF in dm.MESSAGE_TYPE
    for field, cls in dm.MESSAGE_TYPE.items():
        assert cls.command_field == field
        assert EXPECTED_COMMAND_FIELD[cls] == field
        # PS3.7 Annex E: a response has bit 15 set.
        assert issubclass(cls, dm.DIMSEResponseMessage) == bool(field & 0x8000) or (
            cls is dm.CCancelRQMessage
        )


def test_class_hierarchy() -> None:
    for cls in (dm.CStoreRQMessage, dm.CFindRQMessage, dm.CGetRQMessage, dm.CMoveRQMessage):
        assert issubclass(cls, dm.DIMSERequestMessage) and issubclass(cls, dm.PriorityMixin)
    for cls in (dm.CGetRSPMessage, dm.CMoveRSPMessage):
        assert issubclass(cls, dm.DIMSEResponseMessage)
        assert issubclass(cls, dm.SubOpsCountMixin)
    assert issubclass(dm.CCancelRQMessage, dm.DIMSEResponseMessage)


@pytest.mark.parametrize('cls', list(EXPECTED_COMMAND_FIELDS), ids=lambda c: c.__name__)
def test_command_fields_follow_ps3_7_tables(cls: type[dm.DIMSEMessage]) -> None:
    assert cls.command_fields == EXPECTED_COMMAND_FIELDS[cls]


@pytest.mark.parametrize('cls', list(EXPECTED_COMMAND_FIELDS), ids=lambda c: c.__name__)
def test_new_message_defaults(cls: type[dm.DIMSEMessage]) -> None:
    msg = cls()
    cs = msg.command_set
    assert cs.CommandField == cls.command_field
    assert cs.CommandDataSetType == dm.NO_DATASET
    for keyword in cls.command_fields:
        assert keyword in cs and cs[keyword].value is None
    for name in _property_names(cls):
        assert getattr(msg, name) is None, name
    assert msg.data_set is None and msg.storage_error is None


def _property_names(cls: type) -> list[str]:
    return sorted(
        name for name in dir(cls)
        if isinstance(getattr(cls, name), property) and name != 'data_set'
    )


def test_property_tags() -> None:
    expected = {
        'sop_class_uid': 0x0002, 'message_id': 0x0110, 'message_id_being_responded_to': 0x0120,
        'status': 0x0900, 'priority': 0x0700, 'affected_sop_instance_uid': 0x1000,
        'move_originator_aet': 0x1030, 'move_originator_message_id': 0x1031,
        'move_destination': 0x0600, 'num_of_remaining_sub_ops': 0x1020,
        'num_of_completed_sub_ops': 0x1021, 'num_of_failed_sub_ops': 0x1022,
        'num_of_warning_sub_ops': 0x1023, 'event_type_id': 0x1002,
        'requested_sop_instance_uid': 0x1001, 'attribute_identifier_list': 0x1005,
        'action_type_id': 0x1008, 'error_comment': 0x0902, 'error_id': 0x0903,
        'offending_element': 0x0901,
    }
    requested_class = {dm.NGetRQMessage, dm.NSetRQMessage, dm.NActionRQMessage,
                       dm.NDeleteRQMessage}
    for cls in dm.MESSAGE_TYPE.values():
        for name in _property_names(cls):
            msg = cls(Dataset())
            sample = 'X' if name.endswith(('aet', 'destination', 'comment')) else (
                '1.2.3' if name.endswith('uid') else 7)
            setattr(msg, name, sample)
            tag = expected[name]
            if name == 'sop_class_uid' and cls in requested_class:
                tag = 0x0003  # PS3.7 10.3: the N-GET/SET/ACTION/DELETE-RQ name a requested class
            assert list(msg.command_set.keys()) == [Tag(0, tag)], (cls, name)


@pytest.mark.parametrize(('cls', 'values', 'has_data', 'raw'), FIXTURES, ids=FIXTURE_IDS)
def test_fixture_group_length_is_right(cls, values, has_data, raw: bytes) -> None:
    # Checks the hand arithmetic of the fixtures themselves.
    assert raw[:8] == b'\x00\x00\x00\x00\x04\x00\x00\x00'
    assert struct.unpack('<I', raw[8:12])[0] == len(raw) - 12


@pytest.mark.parametrize(('cls', 'values', 'has_data', 'raw'), FIXTURES, ids=FIXTURE_IDS)
def test_encode_matches_hand_written_bytes(cls, values, has_data, raw: bytes) -> None:
    msg = make(cls, values, DATA if has_data else None)
    assert command_bytes(msg) == raw
    assert msg.command_set.CommandGroupLength == len(raw) - 12


@pytest.mark.parametrize(('cls', 'values', 'has_data', 'raw'), FIXTURES, ids=FIXTURE_IDS)
def test_decode_hand_written_bytes(cls, values, has_data, raw: bytes) -> None:
    dec = decoder()
    result = dec.feed(command_pdv(raw, 3))
    if has_data:
        assert result is None and dec.command_set_received and dec.receiving
        result = dec.feed(pdv(3, dm.DATA_LAST_FRAGMENT, DATA))
    assert result is not None
    msg, pc_id = result
    assert pc_id == 3 and type(msg) is cls
    for name, value in values.items():
        assert getattr(msg, name) == value, name
    assert msg.data_set == (DATA if has_data else None)
    assert msg.storage_error is None
    assert not dec.receiving and dec.msg is None and dec.pc_id is None


def test_none_and_empty_values_are_not_sent() -> None:
    msg = dm.CStoreRQMessage()
    msg.message_id = 1
    msg.affected_sop_instance_uid = ''
    raw = command_bytes(msg)
    # Only group length, Command Field, Message ID and Command Data Set Type remain.
    assert raw == (
        b'\x00\x00\x00\x00\x04\x00\x00\x00\x1e\x00\x00\x00'
        b'\x00\x00\x00\x01\x02\x00\x00\x00\x01\x00'
        b'\x00\x00\x10\x01\x02\x00\x00\x00\x01\x00'
        b'\x00\x00\x00\x08\x02\x00\x00\x00\x01\x01'
    )


def test_set_length() -> None:
    msg = make(dm.CEchoRQMessage, FIXTURES[0][1])
    assert msg.command_set.CommandGroupLength is None
    msg.set_length()
    assert msg.command_set.CommandGroupLength == 56
    msg.command_set.CommandGroupLength = 999  # a stale value is recomputed on encode
    assert command_bytes(msg) == C_ECHO_RQ


def test_command_set_outside_group_0000_is_refused() -> None:
    msg = dm.CEchoRQMessage()
    msg.command_set.PatientName = 'X'
    with pytest.raises(DIMSEProcessingError, match='group 0000'):
        msg.encode(1, 0)


def test_unencodable_value_is_refused_at_call_time() -> None:
    msg = dm.CEchoRQMessage()
    with pytest.warns(UserWarning):  # pydicom's own value check
        msg.message_id = 70000
    with pytest.raises(DIMSEProcessingError, match='MessageID'):
        msg.encode(1, 0)


def test_non_ascii_text_goes_through_pydicom() -> None:
    msg = dm.CStoreRSPMessage()
    msg.error_comment = 'caf\xe9'
    msg.status = 0xC000
    dec = decoder()
    [(received, _)] = feed_all(dec, msg.encode(1, 0))
    assert received.error_comment == 'caf\xe9'


def test_data_set_property_sets_command_data_set_type() -> None:
    msg = dm.CFindRQMessage()
    msg.data_set = b'abc'
    assert msg.command_set.CommandDataSetType == dm.HAS_DATASET
    msg.data_set = None
    assert msg.command_set.CommandDataSetType == dm.NO_DATASET
    fp = io.BytesIO()
    msg.data_set = fp
    assert msg.data_set is fp and msg.command_set.CommandDataSetType == dm.HAS_DATASET


def test_encode_makes_data_set_type_truthful() -> None:
    msg = dm.CFindRQMessage()
    msg.command_set.CommandDataSetType = dm.HAS_DATASET  # but no data set
    pdus = list(msg.encode(1, 0))
    assert control_bytes(pdus) == [dm.COMMAND_LAST_FRAGMENT]
    assert msg.command_set.CommandDataSetType == dm.NO_DATASET
    msg._data_set = b'wxyz'  # a data set, but the command says none
    msg.command_set.CommandDataSetType = dm.NO_DATASET
    pdus = list(msg.encode(1, 0))
    assert msg.command_set.CommandDataSetType == dm.HAS_DATASET
    assert payload(pdus, command=False) == b'wxyz'


def test_repr_is_the_command_set() -> None:
    msg = make(dm.CEchoRQMessage, {'message_id': 3})
    assert repr(msg) == str(msg.command_set)
    assert 'Message ID' in repr(msg)


# --- encode: fragmentation ------------------------------------------------------------------


def _store_rq(data_set) -> dm.CStoreRQMessage:
    return make(dm.CStoreRQMessage, FIXTURES[2][1], data_set)  # type: ignore[return-value]


@pytest.mark.parametrize('max_pdu_length', [0, 16, 1024, 16384])
@pytest.mark.parametrize('as_file', [False, True], ids=['bytes', 'file'])
def test_fragmentation_and_reassembly(max_pdu_length: int, as_file: bool) -> None:
    data = bytes(range(256)) * 200 + b'tail'  # 51204 bytes
    source = SpyFile(data) if as_file else data
    msg = _store_rq(source)
    pdus = list(msg.encode(5, max_pdu_length))
    if max_pdu_length:
        assert_fits(pdus, max_pdu_length)
        size = max_pdu_length - 6
        expected_data = -(-len(data) // size)
        assert control_bytes(pdus).count(dm.DATA_FRAGMENT) == expected_data - 1
    else:
        # Unlimited: one command fragment; bytes in one data fragment, a file in 1 MiB reads.
        assert control_bytes(pdus) == [dm.COMMAND_LAST_FRAGMENT, dm.DATA_LAST_FRAGMENT]
    controls = control_bytes(pdus)
    ncommand = controls.count(1) + controls.count(3)
    assert controls == [1] * (ncommand - 1) + [3] + [0] * (len(controls) - ncommand - 1) + [2]
    assert payload(pdus, command=True) == C_STORE_RQ
    assert payload(pdus, command=False) == data
    assert all(item.context_id == 5 for p in pdus for item in p.data_value_items)
    if as_file:
        assert isinstance(source, SpyFile)
        assert source.close_calls >= 1 and source.closed
        limit = max_pdu_length - 6 if max_pdu_length else dm.UNLIMITED_READ_SIZE
        assert all(size is not None and 0 < size <= limit for size in source.read_sizes)
    [(received, pc_id)] = feed_all(decoder(), pdus)
    assert pc_id == 5 and received.data_set == data
    assert received.affected_sop_instance_uid == '1.2.3.4'


def test_command_fragments_at_small_maximum() -> None:
    msg = make(dm.CEchoRQMessage, FIXTURES[0][1])
    pdus = list(msg.encode(1, 16))
    assert len(pdus) == -(-len(C_ECHO_RQ) // 10)
    assert control_bytes(pdus) == [1] * (len(pdus) - 1) + [3]
    assert_fits(pdus, 16)
    [(received, _)] = feed_all(decoder(), pdus)
    assert received.message_id == 1


@pytest.mark.parametrize('max_pdu_length', [1, 2, 3, 4, 5, 6, 7, -5])
def test_encode_refuses_a_maximum_without_room_at_call_time(max_pdu_length: int) -> None:
    fp = SpyFile(b'data')
    msg = _store_rq(fp)
    with pytest.raises(DIMSEProcessingError, match=f'maximum PDU length {max_pdu_length}'):
        msg.encode(1, max_pdu_length)
    assert fp.read_sizes == [] and not fp.closed  # still the caller's


def test_encode_smallest_workable_maximum() -> None:
    msg = _store_rq(b'abcd')
    pdus = list(msg.encode(1, 8))
    assert all(len(item.data_value) == 3 for p in pdus for item in p.data_value_items)
    [(received, _)] = feed_all(decoder(), pdus)
    assert received.data_set == b'abcd'


def test_packing_command_and_data_in_one_pdu() -> None:
    command_length = len(C_STORE_RQ)
    data = b'x' * 100
    exact = 2 * 6 + command_length + len(data)
    pdus = list(_store_rq(data).encode(1, exact))
    assert len(pdus) == 1 and control_bytes(pdus) == [3, 2]
    assert_fits(pdus, exact)
    # One byte less: the data no longer fits beside the command; one PDV per PDU.
    pdus = list(_store_rq(data).encode(1, exact - 1))
    assert [len(p.data_value_items) for p in pdus] == [1, 1]
    assert_fits(pdus, exact - 1)
    # Unlimited packs too, and pack=False keeps one PDV per PDU.
    assert control_bytes(list(_store_rq(data).encode(1, 0))) == [3, 2]
    assert [len(p.data_value_items) for p in _store_rq(data).encode(1, 0, pack=False)] == [1, 1]


def test_packed_pdu_reassembles() -> None:
    pdus = list(_store_rq(DATA).encode(1, 16384))
    assert len(pdus) == 1
    assert dm.DIMSEDecoder(CONTEXTS, (), None).process(pdus[0])[0][0].data_set == DATA


def test_encode_is_lazy_on_files() -> None:
    fp = SpyFile(bytes(1000))
    stream = _store_rq(fp).encode(1, 206)
    assert fp.read_sizes == []
    first = next(stream)
    assert control_bytes([first]) == [3]
    assert len(fp.read_sizes) <= 2  # the first piece and its look-ahead, nothing more
    assert not fp.closed
    rest = list(stream)
    assert fp.closed and fp.close_calls >= 1
    assert payload(rest, command=False) == bytes(1000)


def test_encode_closes_file_when_closed_early() -> None:
    fp = SpyFile(bytes(1000))
    stream = _store_rq(fp).encode(1, 106)
    next(stream)
    next(stream)
    stream.close()
    assert fp.closed


def test_encode_closes_file_when_closed_before_start() -> None:
    fp = SpyFile(bytes(1000))
    stream = _store_rq(fp).encode(1, 106)
    stream.close()
    assert fp.closed and fp.read_sizes == []


def test_encode_returns_a_generator() -> None:
    import collections.abc

    stream = make(dm.CEchoRQMessage, {}).encode(1, 0)
    assert isinstance(stream, collections.abc.Generator)
    assert iter(stream) is stream
    assert isinstance(next(stream), pdu.PDataTfPDU)
    with pytest.raises(StopIteration):
        next(stream)


def test_empty_file_data_set_still_sends_a_last_fragment() -> None:
    fp = SpyFile(b'')
    pdus = list(_store_rq(fp).encode(1, 1024))
    assert control_bytes(pdus) == [3, 2]
    [(received, _)] = feed_all(decoder(), pdus)
    assert received.data_set == b''


def test_command_set_is_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = dm.DIMSEMessage._encode_command_set

    def counting(self):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(self)

    monkeypatch.setattr(dm.DIMSEMessage, '_encode_command_set', counting)
    list(_store_rq(bytes(5000)).encode(1, 128))
    assert len(calls) == 1


# --- the decoder ----------------------------------------------------------------------------


class FileStore:
    """A get_file_cb that hands out SpyFiles (optionally pre-filled) and remembers them."""

    def __init__(self, prefix: bytes = b'', start: int = 0) -> None:
        self.prefix = prefix
        self.start = start
        self.calls: list[tuple[object, Dataset]] = []
        self.files: list[SpyFile] = []

    def __call__(self, context, command_set):  # type: ignore[no-untyped-def]
        self.calls.append((context, command_set))
        fp = SpyFile()
        fp.write(self.prefix)
        self.files.append(fp)
        return fp, self.start


def test_store_in_file_streams_into_the_file() -> None:
    store = FileStore(prefix=b'PREAMBLE', start=0)
    dec = decoder({CT_IMAGE_STORAGE}, store)
    data = bytes(range(256)) * 40
    pdus = list(_store_rq(data).encode(3, 1024))
    [(msg, pc_id)] = feed_all(dec, pdus)
    assert pc_id == 3 and len(store.calls) == 1
    context, command_set = store.calls[0]
    assert context is CONTEXTS[3]
    assert command_set.AffectedSOPInstanceUID == '1.2.3.4'
    fp = store.files[0]
    assert msg.data_set is fp and not fp.closed
    assert fp.tell() == 0 and fp.read() == b'PREAMBLE' + data
    # Written as the fragments arrived, one write per fragment (plus the prefix).
    assert fp.writes == 1 + control_bytes(pdus).count(0) + 1
    assert dec._data_fragments == []


def test_store_in_file_seeks_to_start() -> None:
    store = FileStore(prefix=b'HEADER', start=6)
    dec = decoder({CT_IMAGE_STORAGE}, store)
    [(msg, _)] = feed_all(dec, _store_rq(b'payload!').encode(1, 0))
    assert msg.data_set.read() == b'payload!'


def test_other_classes_are_joined_in_memory() -> None:
    store = FileStore()
    dec = decoder({'1.2.3.999'}, store)
    [(msg, _)] = feed_all(dec, _store_rq(b'x' * 5000).encode(1, 100))
    assert msg.data_set == b'x' * 5000 and isinstance(msg.data_set, bytes)
    assert store.calls == []


def test_store_in_file_not_called_without_data_set() -> None:
    store = FileStore()
    dec = decoder({VERIFICATION}, store)
    [(msg, _)] = feed_all(dec, make(dm.CEchoRQMessage, FIXTURES[0][1]).encode(1, 0))
    assert store.calls == [] and msg.data_set is None


def _next_message_decodes(dec: dm.DIMSEDecoder) -> None:
    [(msg, pc_id)] = feed_all(dec, make(dm.CEchoRQMessage, FIXTURES[0][1]).encode(5, 64))
    assert type(msg) is dm.CEchoRQMessage and pc_id == 5 and msg.storage_error is None


def test_oserror_from_get_file_cb_drains_and_reports() -> None:
    error = OSError(28, 'No space left on device')

    def get_file(context, command_set):  # type: ignore[no-untyped-def]
        raise error

    dec = decoder({CT_IMAGE_STORAGE}, get_file)
    pdus = list(_store_rq(bytes(5000)).encode(1, 512))
    [(msg, _)] = feed_all(dec, pdus)
    assert msg.data_set is None and msg.storage_error is error
    assert type(msg) is dm.CStoreRQMessage and msg.affected_sop_instance_uid == '1.2.3.4'
    assert dec._data_fragments == []  # drained, not kept
    _next_message_decodes(dec)


def test_a_raw_file_that_takes_less_than_asked_gets_every_byte() -> None:
    class Stingy(io.RawIOBase):
        """A raw file that takes at most 1000 bytes per write, as raw files may."""

        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
            self.data += bytes(data[:1000])
            return min(len(data), 1000)

        def seek(self, offset: int, whence: int = 0) -> int:
            return offset

    files: list[Stingy] = []

    def get_file(context, command_set):  # type: ignore[no-untyped-def]
        files.append(Stingy())
        return files[-1], 0

    data = bytes(range(256)) * 40
    dec = decoder({CT_IMAGE_STORAGE}, get_file)
    [(msg, _)] = feed_all(dec, _store_rq(data).encode(1, 4096))
    assert msg.data_set is files[0] and bytes(files[0].data) == data


class FailingFile(SpyFile):
    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        if self.writes >= self.fail_at:
            self.writes += 1
            raise OSError(28, 'No space left on device')
        return super().write(data)


@pytest.mark.parametrize('fail_at', [0, 3])
def test_oserror_while_writing_drains_and_closes(fail_at: int) -> None:
    files: list[FailingFile] = []

    def get_file(context, command_set):  # type: ignore[no-untyped-def]
        files.append(FailingFile(fail_at))
        return files[-1], 0

    dec = decoder({CT_IMAGE_STORAGE}, get_file)
    [(msg, _)] = feed_all(dec, _store_rq(bytes(5000)).encode(1, 512))
    assert msg.data_set is None and isinstance(msg.storage_error, OSError)
    assert files[0].closed and files[0].writes == fail_at + 1  # no write after the failure
    _next_message_decodes(dec)


def test_oserror_on_final_seek() -> None:
    class NoSeek(SpyFile):
        def seek(self, *args):  # type: ignore[no-untyped-def, override]
            raise OSError('seek failed')

    files: list[NoSeek] = []

    def get_file(context, command_set):  # type: ignore[no-untyped-def]
        files.append(NoSeek())
        return files[-1], 0

    dec = decoder({CT_IMAGE_STORAGE}, get_file)
    [(msg, _)] = feed_all(dec, _store_rq(b'abc').encode(1, 0))
    assert msg.data_set is None and str(msg.storage_error) == 'seek failed'
    assert files[0].closed


def test_other_errors_from_get_file_cb_propagate_and_reset() -> None:
    def get_file(context, command_set):  # type: ignore[no-untyped-def]
        raise RuntimeError('bug in a handler')

    dec = decoder({CT_IMAGE_STORAGE}, get_file)
    with pytest.raises(RuntimeError):
        feed_all(dec, _store_rq(b'abc').encode(1, 0))
    assert not dec.receiving
    _next_message_decodes(dec)


def test_discard_closes_the_file_in_progress() -> None:
    store = FileStore()
    dec = decoder({CT_IMAGE_STORAGE}, store)
    pdus = list(_store_rq(bytes(5000)).encode(1, 512, pack=False))
    for p_data in pdus[:3]:
        assert dec.process(p_data) == []
    assert dec.receiving and dec.command_set_received and not dec.data_set_received
    assert dec.pc_id == 1 and isinstance(dec.msg, dm.CStoreRQMessage)
    dec.discard()
    assert store.files[0].closed
    assert not dec.receiving and dec.msg is None and dec.pc_id is None
    dec.discard()  # idempotent
    _next_message_decodes(dec)


def test_process_returns_every_message_of_a_pdu() -> None:
    items = []
    for cls, values, has_data, _raw in FIXTURES[:4]:
        for p_data in make(cls, values, DATA if has_data else None).encode(1, 0):
            items.extend(p_data.data_value_items)
    results = decoder().process(pdu.PDataTfPDU(items))
    assert [type(m) for m, _ in results] == [cls for cls, *_ in FIXTURES[:4]]
    assert results[2][0].data_set == DATA


def test_bytes_data_values_work_too() -> None:
    dec = decoder()
    assert dec.feed(pdu.PresentationDataValueItem(1, b'\x01' + C_STORE_RQ[:50])) is None
    assert dec.feed(pdu.PresentationDataValueItem(1, b'\x03' + C_STORE_RQ[50:])) is None
    assert dec.feed(pdu.PresentationDataValueItem(1, bytearray(b'\x00abc'))) is None
    [msg, pc_id] = dec.feed(pdu.PresentationDataValueItem(1, b'\x02def'))
    assert msg.data_set == b'abcdef' and msg.move_originator_aet == 'MOVESCU'


def test_accepted_contexts_may_be_filled_later() -> None:
    contexts: dict[int, Context] = {}
    dec = dm.DIMSEDecoder(contexts, (), None)
    contexts[7] = Context(7)
    assert dec.feed(command_pdv(C_ECHO_RQ, 7)) is not None


def test_reserved_control_bits_are_ignored() -> None:
    dec = decoder()
    assert dec.feed(pdv(1, 0xFC | dm.COMMAND_LAST_FRAGMENT, C_ECHO_RQ)) is not None


def test_lenient_on_peer_group_length() -> None:
    wrong = C_ECHO_RQ[:8] + b'\x00\x00\x00\x00' + C_ECHO_RQ[12:]
    [(msg, _)] = [decoder().feed(command_pdv(wrong))]
    assert msg.message_id == 1


# --- the decoder: what the peer can get wrong -------------------------------------------------

NO_FIELD = (  # a command set without Command Field
    b'\x00\x00\x00\x00\x04\x00\x00\x00\x0a\x00\x00\x00'
    b'\x00\x00\x10\x01\x02\x00\x00\x00\x01\x00'
)
UNKNOWN_FIELD = (
    b'\x00\x00\x00\x00\x04\x00\x00\x00\x14\x00\x00\x00'
    b'\x00\x00\x00\x01\x02\x00\x00\x00\x31\x00'  # 0031H: no such command
    b'\x00\x00\x00\x08\x02\x00\x00\x00\x01\x01'
)
TRUNCATED = C_ECHO_RQ[:-3]
BAD_US = (  # Command Field with a 3-byte value
    b'\x00\x00\x00\x00\x04\x00\x00\x00\x0b\x00\x00\x00'
    b'\x00\x00\x00\x01\x03\x00\x00\x00\x30\x00\x00'
)


@pytest.mark.parametrize(
    ('raw', 'match'),
    [
        (NO_FIELD, 'no Command Field'),
        (UNKNOWN_FIELD, 'unknown Command Field 0031H'),
        (TRUNCATED, 'does not decode'),
        (BAD_US, 'Command Field|does not decode'),
        (b'', 'no Command Field'),
        (b'\xff' * 7, 'does not decode|Command Field'),
    ],
    ids=['no-field', 'unknown-field', 'truncated', 'bad-us', 'empty', 'garbage'],
)
def test_bad_command_set(raw: bytes, match: str) -> None:
    dec = decoder()
    with pytest.raises(DIMSEProcessingError, match=match):
        dec.feed(command_pdv(raw))
    assert not dec.receiving
    _next_message_decodes(dec)


def test_empty_pdv_has_no_control_header() -> None:
    dec = decoder()
    with pytest.raises(DIMSEProcessingError, match='no message control header'):
        dec.feed(pdu.PresentationDataValueItem(1, memoryview(b'')))
    with pytest.raises(DIMSEProcessingError, match='no message control header'):
        dec.feed(pdu.PresentationDataValueItem(1, b''))
    _next_message_decodes(dec)


def test_data_before_any_command() -> None:
    dec = decoder()
    with pytest.raises(DIMSEProcessingError, match='before any command set'):
        dec.feed(pdv(1, dm.DATA_LAST_FRAGMENT, DATA))
    _next_message_decodes(dec)


def test_data_before_the_command_is_complete() -> None:
    dec = decoder()
    assert dec.feed(pdv(1, dm.COMMAND_FRAGMENT, C_STORE_RQ[:40])) is None
    with pytest.raises(DIMSEProcessingError, match='before the last fragment of the command'):
        dec.feed(pdv(1, dm.DATA_FRAGMENT, DATA))
    _next_message_decodes(dec)


def test_data_after_a_command_without_data_set() -> None:
    dec = decoder()
    assert dec.feed(command_pdv(C_ECHO_RQ)) is not None
    with pytest.raises(DIMSEProcessingError, match='CEchoRQMessage said no data set'):
        dec.feed(pdv(1, dm.DATA_LAST_FRAGMENT, DATA))
    _next_message_decodes(dec)


def test_command_fragment_while_data_expected() -> None:
    dec = decoder()
    assert dec.feed(command_pdv(C_STORE_RQ)) is None
    with pytest.raises(DIMSEProcessingError, match='data set of CStoreRQMessage was expected'):
        dec.feed(command_pdv(C_ECHO_RQ))
    _next_message_decodes(dec)


@pytest.mark.parametrize('stage', ['command', 'data'])
def test_mixed_context_ids(stage: str) -> None:
    store = FileStore()
    dec = decoder({CT_IMAGE_STORAGE}, store)
    if stage == 'command':
        dec.feed(pdv(1, dm.COMMAND_FRAGMENT, C_STORE_RQ[:40]))
        bad = pdv(3, dm.COMMAND_LAST_FRAGMENT, C_STORE_RQ[40:])
    else:
        dec.feed(command_pdv(C_STORE_RQ, 1))
        dec.feed(pdv(1, dm.DATA_FRAGMENT, b'abc'))
        bad = pdv(3, dm.DATA_LAST_FRAGMENT, b'def')
    with pytest.raises(DIMSEProcessingError, match='context 3 arrived while'):
        dec.feed(bad)
    if stage == 'data':
        assert store.files[0].closed
    _next_message_decodes(dec)


def test_context_not_accepted() -> None:
    dec = decoder()
    with pytest.raises(DIMSEProcessingError, match='context 9, which was not accepted'):
        dec.feed(command_pdv(C_ECHO_RQ, 9))
    _next_message_decodes(dec)


def test_the_decoder_copies_what_it_keeps_so_the_caller_may_reuse_its_buffer() -> None:
    rq = dm.CStoreRQMessage()
    rq.message_id = 7
    rq.sop_class_uid = '1.2.840.10008.5.1.4.1.1.2'
    rq.affected_sop_instance_uid = '1.2.3'
    rq.priority = 0
    rq.data_set = b'0123456789' * 5
    dec = decoder()
    buffer = bytearray(4096)  # one receive buffer, overwritten after every feed
    received = []
    for p_data in rq.encode(1, 30):  # small PDUs: several command and data fragments
        for item in p_data.data_value_items:
            size = len(item.data_value)
            buffer[:size] = item.data_value
            result = dec.feed(pdu.PresentationDataValueItem(1, memoryview(buffer)[:size]))
            buffer[:size] = b'\xff' * size
            if result is not None:
                received.append(result)
    [(msg, _)] = received
    assert msg.message_id == 7 and msg.affected_sop_instance_uid == '1.2.3'
    assert msg.data_set == b'0123456789' * 5


def test_command_set_is_built_on_demand_and_then_authoritative() -> None:
    msg = dm.CEchoRSPMessage()
    msg.status = 0
    assert msg._fields is not None  # the fast form, no pydicom Dataset yet
    command_set = msg.command_set
    assert msg._fields is None and msg.command_set is command_set
    command_set.Status = 0x0110  # changes to the Dataset are what is sent
    assert msg.status == 0x0110
    [p_data] = list(msg.encode(1, 0))
    [(got, _)] = decoder().process(p_data)
    assert got.status == 0x0110 and got._fields is not None
