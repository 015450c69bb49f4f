"""Encode and decode rates of pynetdicom2's PDU codec, side by side with pynetdicom's.

Run it from the repository root (pynetdicom must be installed, it is a test dependency)::

    python benchmarks/bench_pdu.py            # the full table, a few seconds per row
    python benchmarks/bench_pdu.py --quick    # shorter runs, noisier numbers

Each case is timed with :mod:`timeit`, best of several repeats, and printed as operations per
second for both libraries plus the ratio ours / pynetdicom (higher is better). Both sides work on
the same bytes: pynetdicom's objects are built by decoding what pynetdicom2 encodes.

Cases: P-DATA-TF with one 16 KiB PDV, P-DATA-TF with one 1 MiB PDV, and an A-ASSOCIATE-RQ with
120 presentation contexts (one abstract syntax and three transfer syntaxes each) plus a user
information item.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian  # noqa: E402

from pynetdicom2 import pdu, uids, userdataitems  # noqa: E402

try:
    from pynetdicom import pdu as their_pdu
except ImportError:  # pragma: no cover - pynetdicom is a test dependency
    their_pdu = None

TRANSFER_SYNTAXES = (
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    uids.JPEG_BASELINE_PROCESS_1,
)


def p_data(size: int) -> pdu.PDataTfPDU:
    """One PDV of ``size`` bytes of data-set fragment (last fragment)."""
    return pdu.PDataTfPDU([pdu.PresentationDataValueItem(1, b'\x02' + b'\xa5' * size)])


def associate_rq(contexts: int = 120) -> pdu.AAssociateRqPDU:
    """An A-ASSOCIATE-RQ like the one an AE with many storage SCUs sends."""
    classes = [uid for uid in uids.STORAGE_SOP_CLASSES][:contexts]
    items: list[pdu.VariableItems] = [pdu.ApplicationContextItem('1.2.840.10008.3.1.1.1')]
    for index, sop_class in enumerate(classes):
        items.append(pdu.PresentationContextItemRQ(
            2 * index + 1,
            pdu.AbstractSyntaxSubItem(sop_class),
            [pdu.TransferSyntaxSubItem(ts) for ts in TRANSFER_SYNTAXES],
        ))
    items.append(pdu.UserInformationItem([
        userdataitems.MaximumLengthSubItem(16384),
        userdataitems.ImplementationClassUIDSubItem('1.2.826.0.1.3680043.9.3811.1'),
        userdataitems.ImplementationVersionNameSubItem('PYNETDICOM2_100'),
        userdataitems.UserIdentityNegotiationSubItem('user', 'password'),
    ]))
    return pdu.AAssociateRqPDU('STORESCP', 'STORESCU', items)


def rate(func: Callable[[], object], repeat: int, budget: float) -> float:
    """Operations per second of ``func``: best of ``repeat`` runs of about ``budget`` s each."""
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    number = max(1, int(number * budget / 0.2))
    best = min(timer.repeat(repeat=repeat, number=number))
    return number / best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='shorter, noisier runs')
    args = parser.parse_args(argv)
    repeat, budget = (3, 0.1) if args.quick else (7, 0.3)

    cases = [
        ('P-DATA-TF, 16 KiB PDV', p_data(16 * 1024), getattr(their_pdu, 'P_DATA_TF', None)),
        ('P-DATA-TF, 1 MiB PDV', p_data(1024 * 1024), getattr(their_pdu, 'P_DATA_TF', None)),
        ('A-ASSOCIATE-RQ, 120 contexts', associate_rq(120),
         getattr(their_pdu, 'A_ASSOCIATE_RQ', None)),
    ]

    header = f'{"case":<30} {"op":<7} {"pynetdicom2 ops/s":>18} {"pynetdicom ops/s":>17} ' \
             f'{"ratio":>8}'
    print(header)
    print('-' * len(header))
    for title, ours, their_cls in cases:
        raw = ours.encode()
        ours_cls = type(ours)
        assert ours_cls.decode(raw).encode() == raw
        theirs = None
        if their_cls is not None:
            theirs = their_cls()
            theirs.decode(raw)
            assert theirs.encode() == raw, f'{title}: pynetdicom re-encodes differently'

        def their_decode(cls=their_cls, raw=raw):
            cls().decode(raw)

        rows = [
            ('encode', ours.encode, theirs.encode if theirs else None),
            ('decode', lambda raw=raw, cls=ours_cls: cls.decode(raw),
             their_decode if theirs else None),
        ]
        for op, mine, other in rows:
            mine_rate = rate(mine, repeat, budget)
            if other is None:
                print(f'{title:<30} {op:<7} {mine_rate:>18,.0f} {"n/a":>17} {"n/a":>8}')
                continue
            other_rate = rate(other, repeat, budget)
            print(f'{title:<30} {op:<7} {mine_rate:>18,.0f} {other_rate:>17,.0f} '
                  f'{mine_rate / other_rate:>7.1f}x')


if __name__ == '__main__':
    main()
