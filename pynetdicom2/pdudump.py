"""PDU dumps: every PDU sent and received, decoded and in hex, on the ``pynetdicom2.pdu`` logger.

The upper layer (:mod:`pynetdicom2.dulprovider`) hands each PDU to :func:`log_pdu` when the
``pynetdicom2.pdu`` logger is enabled for DEBUG, and does nothing more than that check
otherwise. One log record per PDU: a summary line (direction, peer, PDU type, length), the
decoded fields, then a hex dump of the first :data:`HEXDUMP_LIMIT` bytes::

    import logging
    logging.basicConfig(format='%(name)s %(message)s')
    logging.getLogger('pynetdicom2.pdu').setLevel(logging.DEBUG)

A user identity passcode, Kerberos ticket, SAML assertion or JSON web token never reaches the
log: the description names only the identity type and the username, an A-ASSOCIATE-RQ or -AC
that carries a user identity (PS3.7 D.3.3.7: sub-items 58H and 59H) is not hex dumped, and in
the hex dump of an A-ASSOCIATE PDU that does not decode, whatever may be an identity is
overwritten (:func:`redact_identity`).

>>> from pynetdicom2 import pdu
>>> print('\\n'.join(describe(pdu.AAbortPDU(2, 6))))
source 2 (service provider), reason 6 (invalid PDU parameter value)
>>> print('\\n'.join(hexdump(pdu.AReleaseRqPDU().encode())))
0000  05 00 00 00 00 04 00 00  00 00                    |..........|
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from pydicom.uid import UID

from pynetdicom2 import pdu, userdataitems

logger = logging.getLogger('pynetdicom2.pdu')

#: Bytes of each PDU shown in hex; a P-DATA-TF of 16 KiB shows its headers and first bytes.
HEXDUMP_LIMIT = 256

#: What a redacted byte is shown as: ``2a``, ``*``.
REDACTED = 0x2A
# PS3.8 9.3.2, 9.3.3: the variable items of an A-ASSOCIATE-RQ or -AC start after 74 bytes of
# fixed fields (PDU header, protocol version, AE titles, reserved), which hold no secret.
_VARIABLE_ITEMS = 74
_ASSOCIATE_TYPES = (0x01, 0x02)
# Variable items shown as they are; the user information item (50H) has its sub-items walked.
_PLAIN_ITEMS = (0x10, 0x20, 0x21)
_USER_INFORMATION = 0x50
# PS3.7 D.3.3.7: the user identity sub-items of the RQ (type, positive response requested,
# then the secret fields) and of the AC (the server response, a ticket or token).
_IDENTITY_RQ = 0x58
_IDENTITY_AC = 0x59
# A UID as the syntax items hold it (PS3.5 9.1), padding included; anything else in them is
# not shown.
_UID_TEXT = re.compile(rb'[0-9.]{0,64}[\0 ]?')
_PRINTABLE = re.compile(rb'[\x20-\x7e]*')

_PDU_NAMES = {
    0x01: 'A-ASSOCIATE-RQ', 0x02: 'A-ASSOCIATE-AC', 0x03: 'A-ASSOCIATE-RJ', 0x04: 'P-DATA-TF',
    0x05: 'A-RELEASE-RQ', 0x06: 'A-RELEASE-RP', 0x07: 'A-ABORT',
}

# PS3.8 9.3.4: A-ASSOCIATE-RJ result, source and, per source, reason/diag.
_RJ_RESULTS = {1: 'rejected permanent', 2: 'rejected transient'}
_RJ_SOURCES = {
    1: 'service user', 2: 'service provider (ACSE)', 3: 'service provider (presentation)',
}
_RJ_REASONS = {
    1: {1: 'no reason given', 2: 'application context name not supported',
        3: 'calling AE title not recognized', 7: 'called AE title not recognized'},
    2: {1: 'no reason given', 2: 'protocol version not supported'},
    3: {1: 'temporary congestion', 2: 'local limit exceeded'},
}
# PS3.8 9.3.8: A-ABORT source and provider reason.
_ABORT_SOURCES = {0: 'service user', 2: 'service provider'}
_ABORT_REASONS = {
    0: 'reason not specified', 1: 'unrecognized PDU', 2: 'unexpected PDU',
    4: 'unrecognized PDU parameter', 5: 'unexpected PDU parameter',
    6: 'invalid PDU parameter value',
}
# PS3.8 9.3.3.2: presentation context result/reason.
_CONTEXT_RESULTS = {
    0: 'acceptance', 1: 'user rejection', 2: 'no reason (provider rejection)',
    3: 'abstract syntax not supported', 4: 'transfer syntaxes not supported',
}
# PS3.7 D.3.3.7: user identity types.
_IDENTITY_TYPES = {
    1: 'username', 2: 'username and passcode', 3: 'Kerberos service ticket',
    4: 'SAML assertion', 5: 'JSON web token',
}


def log_pdu(provider: str, direction: str, pdu_obj: pdu.PDU,
            raw: bytes | bytearray | memoryview | None = None) -> None:
    """Log one PDU at DEBUG on the ``pynetdicom2.pdu`` logger.

    ``provider`` names the upper layer provider (its thread name, which names the peer);
    ``direction`` is ``'sent'`` or ``'received'``; ``raw`` is the encoded PDU when the
    caller has it (a received one), else the start of the encoding is made here. The caller
    checks ``logger.isEnabledFor(logging.DEBUG)`` first, so a disabled dump costs nothing more.
    """
    head = _encoded_head(pdu_obj) if raw is None else raw
    name = _PDU_NAMES.get(pdu_obj.pdu_type, f'PDU type 0x{pdu_obj.pdu_type:02X}')
    lines = [f'{provider}: {direction} {name}, {pdu_obj.total_length()} bytes']
    lines += ('  ' + line for line in describe(pdu_obj))
    if _carries_identity(pdu_obj):
        lines.append('  (no hex dump: the PDU carries a user identity)')
    else:
        lines += ('  ' + line for line in hexdump(head, total=pdu_obj.total_length()))
    logger.debug('\n'.join(lines))


def log_undecodable(provider: str, raw: bytes | bytearray | memoryview) -> None:
    """Log, at DEBUG, the start of a received PDU that could not be decoded.

    What may be a user identity is overwritten first (:func:`redact_identity`): a malformed
    A-ASSOCIATE-RQ may still carry a real passcode.
    """
    shown, hidden = redact_identity(raw)
    lines = [f'{provider}: received an undecodable PDU, {len(raw)} bytes']
    if hidden:
        lines.append(f'  ({hidden} bytes that may hold a user identity are shown as '
                     f'{REDACTED:02x})')
    lines += ('  ' + line for line in hexdump(shown))
    logger.debug('\n'.join(lines))


def redact_identity(raw: bytes | bytearray | memoryview) -> tuple[bytes, int]:
    """A copy of ``raw`` with every byte that may be a user identity overwritten, and how many.

    Only an A-ASSOCIATE-RQ or -AC carries one (PS3.7 D.3.3.7), inside its user information
    item. The items are walked without trusting them: application and presentation context
    items are kept when they hold what they should (UIDs, in sub-items that add up), as are
    the user information sub-items that do (maximum length, implementation class UID and
    version name, window, role selection); the value of any other sub-item, user identity
    (58H, 59H) first, is overwritten (an identity's type and positive response flag aside),
    and from the first item that is anything else, or whose length runs past its end,
    everything to the end of the PDU is: a secret can hide in garbage, or in an item whose
    length swallowed it.

    >>> rq = b'\\x01' + bytes(73)                     # the fixed fields of an A-ASSOCIATE-RQ
    >>> shown, hidden = redact_identity(rq + bytes.fromhex('50 00 0008 58 00 0004 02 01 7878'))
    >>> shown[74:].hex(' '), hidden                      # a user identity: its value blanked
    ('50 00 00 08 58 00 00 04 02 01 2a 2a', 2)
    >>> redact_identity(rq + bytes.fromhex('99 00 0002 7878'))[0][74:]   # garbage: all of it
    b'******'
    """
    data = bytearray(raw)
    if len(data) <= _VARIABLE_ITEMS or data[0] not in _ASSOCIATE_TYPES:
        return bytes(data), 0
    hidden = 0
    offset = _VARIABLE_ITEMS
    while offset < len(data):
        end = _item_end(data, offset, len(data))
        if end is None or data[offset] not in (*_PLAIN_ITEMS, _USER_INFORMATION):
            break
        if data[offset] in _PLAIN_ITEMS and not _plain_item_holds_uids(data, offset, end):
            break
        if data[offset] == _USER_INFORMATION:
            failed, count = _redact_sub_items(data, offset + 4, end)
            hidden += count
            if failed is not None:
                offset = failed
                break
        offset = end
    hidden += _blank(data, offset, len(data))
    return bytes(data), hidden


def _item_end(data: bytearray, offset: int, limit: int) -> int | None:
    """Where the item at ``offset`` ends (PS3.8 9.3.2: type, reserved, 2-byte length), or
    None when its header or value runs past ``limit``."""
    if limit - offset < 4:
        return None
    end = offset + 4 + int.from_bytes(data[offset + 2:offset + 4], 'big')
    return end if end <= limit else None


def _plain_item_holds_uids(data: bytearray, offset: int, end: int) -> bool:
    """Whether an application context item is a UID, or a presentation context item four
    bytes of fields then abstract and transfer syntax sub-items (30H, 40H) holding UIDs
    (PS3.8 9.3.2.1, 9.3.2.2)."""
    if data[offset] == 0x10:
        return _UID_TEXT.fullmatch(data[offset + 4:end]) is not None
    sub_item = offset + 8
    while sub_item < end:
        stop = _item_end(data, sub_item, end)
        if stop is None or data[sub_item] not in (0x30, 0x40):
            return False
        if _UID_TEXT.fullmatch(data[sub_item + 4:stop]) is None:
            return False
        sub_item = stop
    return sub_item == end


def _redact_sub_items(data: bytearray, start: int, end: int) -> tuple[int | None, int]:
    """Blank the values of the user information sub-items in ``data[start:end]`` that may
    hide an identity; return where the walk failed (None: it did not) and how many bytes were
    blanked.

    Shown: the sub-items whose value is what it should be (:func:`_plain_sub_item`); of a
    user identity sub-item, its type and flag. Any other value is blanked, a sub-item of
    another type included: a corrupted type byte must not show the passcode it precedes.
    """
    hidden = 0
    offset = start
    while offset < end:
        stop = _item_end(data, offset, end)
        if stop is None:
            return offset, hidden
        value = offset + 4
        if data[offset] == _IDENTITY_RQ:
            value += 2  # the identity type and the positive response flag
        if not _plain_sub_item(data[offset], bytes(data[value:stop])):
            hidden += _blank(data, value, stop)
        offset = stop
    return None, hidden


def _plain_sub_item(sub_type: int, value: bytes) -> bool:
    """A maximum length or window (4 bytes), a class UID, a role selection, a version name
    (PS3.7 D.3.3.1 to D.3.3.4): shown when its value is well formed."""
    if sub_type in (0x51, 0x53):
        return len(value) == 4
    if sub_type == 0x52:
        return _UID_TEXT.fullmatch(value) is not None
    if sub_type == 0x54:
        uid_length = int.from_bytes(value[:2], 'big')
        return len(value) == uid_length + 4 and _UID_TEXT.fullmatch(
            value[2:2 + uid_length]) is not None
    if sub_type == 0x55:
        return len(value) <= 16 and _PRINTABLE.fullmatch(value) is not None
    return False


def _blank(data: bytearray, start: int, stop: int) -> int:
    """Overwrite ``data[start:stop]`` with :data:`REDACTED`; return how many bytes."""
    count = max(0, stop - start)
    data[start:stop] = bytes((REDACTED,)) * count
    return count


def describe(pdu_obj: pdu.PDU) -> list[str]:
    """The fields of a decoded PDU as readable lines, UIDs named, secrets left out."""
    if isinstance(pdu_obj, pdu.AAssociatePDUBase):
        return _describe_associate(pdu_obj)
    if isinstance(pdu_obj, pdu.AAssociateRjPDU):
        reason = _RJ_REASONS.get(pdu_obj.source, {}).get(pdu_obj.reason_diag, 'unknown')
        return [f'result {pdu_obj.result} ({_RJ_RESULTS.get(pdu_obj.result, "unknown")}), '
                f'source {pdu_obj.source} ({_RJ_SOURCES.get(pdu_obj.source, "unknown")}), '
                f'reason {pdu_obj.reason_diag} ({reason})']
    if isinstance(pdu_obj, pdu.AAbortPDU):
        reason = (f', reason {pdu_obj.reason_diag} '
                  f'({_ABORT_REASONS.get(pdu_obj.reason_diag, "unknown")})'
                  if pdu_obj.source == 2 else '')
        return [f'source {pdu_obj.source} ({_ABORT_SOURCES.get(pdu_obj.source, "reserved")})'
                + reason]
    if isinstance(pdu_obj, pdu.PDataTfPDU):
        return [_describe_pdv(item) for item in pdu_obj.data_value_items]
    return []


def hexdump(data: bytes | bytearray | memoryview, limit: int = HEXDUMP_LIMIT,
            total: int | None = None) -> list[str]:
    """Offset, 16 bytes in hex and as ASCII per line, for the first ``limit`` bytes.

    ``total`` is the full size of what ``data`` starts (default ``len(data)``); a last line
    says how many bytes were left out.
    """
    shown = bytes(data[:limit])
    total = len(data) if total is None else total
    lines = []
    for offset in range(0, len(shown), 16):
        row = shown[offset:offset + 16]
        hex_part = ' '.join(f'{byte:02x}' for byte in row[:8])
        if len(row) > 8:
            hex_part += '  ' + ' '.join(f'{byte:02x}' for byte in row[8:])
        text = ''.join(chr(byte) if 0x20 <= byte < 0x7F else '.' for byte in row)
        lines.append(f'{offset:04x}  {hex_part:<48}  |{text}|')
    if total > len(shown):
        lines.append(f'... {total - len(shown)} more bytes')
    return lines


def _encoded_head(pdu_obj: pdu.PDU) -> bytes:
    if not isinstance(pdu_obj, pdu.PDataTfPDU):
        return pdu_obj.encode()
    # Only the first bytes are shown: join parts until there are enough, not the whole PDU.
    head = bytearray()
    for part in pdu_obj.encode_parts():
        head += part[:HEXDUMP_LIMIT - len(head)]
        if len(head) >= HEXDUMP_LIMIT:
            break
    return bytes(head)


def _uid(value: str) -> str:
    name = UID(value).name
    return value if name == value else f'{name} ({value})'


def _describe_associate(rq: pdu.AAssociatePDUBase) -> list[str]:
    lines = [f'called AE title {rq.called_ae_title!r}, calling AE title '
             f'{rq.calling_ae_title!r}, protocol version {rq.protocol_version}']
    for item in rq.variable_items:
        if isinstance(item, pdu.ApplicationContextItem):
            lines.append(f'application context {item.context_name}')
        elif isinstance(item, pdu.PresentationContextItemRQ):
            lines.append(f'presentation context {item.context_id}: '
                         f'{_uid(item.abs_sub_item.name)}')
            lines += (f'  transfer syntax {_uid(ts.name)}'
                      for ts in item.ts_sub_items)
        elif isinstance(item, pdu.PresentationContextItemAC):
            result = _CONTEXT_RESULTS.get(item.result_reason, 'unknown')
            syntax = (f', {_uid(item.ts_sub_item.name)}'
                      if item.result_reason == 0 and item.ts_sub_item is not None else '')
            lines.append(f'presentation context {item.context_id}: result '
                         f'{item.result_reason} ({result}){syntax}')
        elif isinstance(item, pdu.UserInformationItem):
            lines += _describe_user_items(item.user_data)
    return lines


def _describe_user_items(items: Iterable[pdu.UserItem]) -> list[str]:
    lines = []
    for item in items:
        if isinstance(item, userdataitems.MaximumLengthSubItem):
            lines.append(f'maximum length received {item.maximum_length_received}')
        elif isinstance(item, userdataitems.ImplementationClassUIDSubItem):
            lines.append(f'implementation class UID {item.implementation_class_uid}')
        elif isinstance(item, userdataitems.ImplementationVersionNameSubItem):
            lines.append(f'implementation version name {item.implementation_version_name!r}')
        elif isinstance(item, userdataitems.AsynchronousOperationsWindowSubItem):
            lines.append(f'asynchronous operations window: invoked {item.max_num_ops_invoked}, '
                         f'performed {item.max_num_ops_performed}')
        elif isinstance(item, userdataitems.ScpScuRoleSelectionSubItem):
            lines.append(f'role selection {_uid(item.sop_class_uid)}: SCU {item.scu_role}, '
                         f'SCP {item.scp_role}')
        elif isinstance(item, userdataitems.SOPClassExtendedNegotiationSubItem):
            lines.append(f'extended negotiation {_uid(item.sop_class_uid)}: '
                         f'{item.app_info.hex()}')
        elif isinstance(item, userdataitems.SOPClassCommonExtendedNegotiationSubItem):
            # PS3.7 D.3.3.6: the service class, and the related general classes, if any
            related = ', '.join(_uid(uid) for uid in item.related_general_sop_class_uids)
            lines.append(f'common extended negotiation {_uid(item.sop_class_uid)}: service '
                         f'class {_uid(item.service_class_uid)}, related general SOP classes '
                         f'{related or "none"}')
        elif isinstance(item, userdataitems.UserIdentityNegotiationSubItem):
            kind = _IDENTITY_TYPES.get(item.user_identity_type, 'unknown type')
            user = (f' {item.primary_field!r}' if item.user_identity_type in (1, 2) else '')
            lines.append(f'user identity type {item.user_identity_type} ({kind}){user}, '
                         f'positive response requested: {item.positive_response_req}')
        elif isinstance(item, userdataitems.UserIdentityNegotiationSubItemAc):
            lines.append('user identity server response '
                         f'({len(item.encode()) - 6} bytes, not shown)')
        else:
            lines.append(f'user information sub-item 0x{item.item_type:02X}, '
                         f'{item.total_length} bytes')
    return lines


def _describe_pdv(item: pdu.PresentationDataValueItem) -> str:
    value = memoryview(item.data_value).cast('B')
    header = value[0] if len(value) else 0
    kind = 'command' if header & 1 else 'data set'
    last = 'last fragment' if header & 2 else 'more fragments follow'
    return (f'PDV presentation context {item.context_id}: {kind}, {last}, '
            f'{len(value) - 1} bytes')


def _carries_identity(pdu_obj: pdu.PDU) -> bool:
    """An A-ASSOCIATE-RQ with a user identity, or an -AC with a server response to one."""
    if not isinstance(pdu_obj, pdu.AAssociatePDUBase):
        return False
    identity = (userdataitems.UserIdentityNegotiationSubItem,
                userdataitems.UserIdentityNegotiationSubItemAc)
    return any(isinstance(sub, identity)
               for item in pdu_obj.variable_items if isinstance(item, pdu.UserInformationItem)
               for sub in item.user_data)
