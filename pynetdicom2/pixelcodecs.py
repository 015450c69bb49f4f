"""Compressed pixel data to an uncompressed transfer syntax, and on request back, through
pydicom's decoders and lossless encoders.

A file in JPEG, JPEG 2000, JPEG-LS or RLE Lossless may have to go to a peer that accepts
only uncompressed syntaxes. Unlike :mod:`pynetdicom2.transcode`, which rewrites a stream,
decoding pixel data needs the whole data set in memory, and pydicom 3's pixel data
decoders (:func:`pydicom.pixels.decompress`, Python 3.10 and later) with their plugins. They
are an optional extra, of permissively licensed packages::

    pip install 'pynetdicom2[codecs]'    # numpy, Pillow, pylibjpeg, pylibjpeg-openjpeg, pyjpegls

Pillow decodes JPEG Baseline and Extended and JPEG 2000, pylibjpeg-openjpeg JPEG 2000 too,
pyjpegls JPEG-LS, and pydicom itself RLE Lossless (with numpy). JPEG Lossless (Process 14)
needs pylibjpeg-libjpeg (GPLv3, so not in our extra: add it yourself if its licence suits
you) or python-gdcm. Without the extra, or with pydicom 2, :func:`can_decompress` is false
and a compressed file goes only where its own syntax is accepted.

The SOP Instance UID is kept: decompressing changes the encoding, not the instance (the
pixel values are those the compressed stream holds, lossy or not). Colour data decoded from
YCbCr is stored as RGB, with Photometric Interpretation changed to match (PS3.3 C.7.6.3.1.2).

Usage::

    from pynetdicom2 import pixelcodecs

    if pixelcodecs.can_decompress(jpeg_syntax):
        ds = pixelcodecs.decompressed('ct-jpeg.dcm')   # a Dataset, pixel data decoded
    if pixelcodecs.can_compress(explicit_le, rle_lossless):
        ds = pixelcodecs.compressed('ct.dcm', rle_lossless)   # on request, lossless only
"""

from __future__ import annotations

import functools
import os
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2.exceptions import NetDICOMError

__all__ = ['LOSSLESS', 'available', 'can_compress', 'can_decompress', 'compressed',
           'decompressed']

#: The lossless syntaxes a data set is compressed to on request, when a peer accepts one
#: that was proposed (never a lossy one: a conversion must not lose what the file holds):
#: RLE Lossless (pydicom, numpy), JPEG-LS Lossless (pyjpegls), JPEG 2000 Lossless
#: (pylibjpeg-openjpeg).
LOSSLESS = frozenset({'1.2.840.10008.1.2.5', '1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.90'})

_UNCOMPRESSED = frozenset({
    '1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2',
    '1.2.840.10008.1.2.1.99',
})


@functools.cache
def _codec(kind: str, syntax: str) -> Any:
    """pydicom's ``kind`` of codec ('decoder' or 'encoder') for ``syntax``; None without
    pydicom 3 or numpy, or when pydicom has none for it."""
    try:
        from pydicom.pixels.decoders.base import get_decoder
        from pydicom.pixels.encoders.base import get_encoder
    except ImportError:  # pydicom 2
        return None
    get: Any = get_decoder if kind == 'decoder' else get_encoder
    try:
        return get(syntax)
    except (NotImplementedError, ValueError, ImportError):
        return None


def available() -> bool:
    """True when pydicom's pixel data decoders can run here (pydicom 3 and numpy)."""
    try:
        import numpy  # noqa: F401
        from pydicom.pixels import decompress  # noqa: F401
    except ImportError:
        return False
    return True


def can_decompress(source_syntax: str, target_syntax: str | None = None) -> bool:
    """True when a data set in the compressed ``source_syntax`` can be decoded here (and
    ``target_syntax``, when given, is one of the uncompressed syntaxes).

    >>> can_decompress('1.2.840.10008.1.2.1')   # not compressed: nothing to decode
    False
    """
    if str(source_syntax) in _UNCOMPRESSED or not available():
        return False
    if target_syntax is not None and str(target_syntax) not in _UNCOMPRESSED:
        return False
    decoder = _codec('decoder', str(source_syntax))
    return bool(decoder is not None and decoder.is_available)


def can_compress(source_syntax: str, target_syntax: str) -> bool:
    """True when a data set in the uncompressed ``source_syntax`` can be compressed here to
    the lossless ``target_syntax`` (:data:`LOSSLESS`).

    >>> can_compress('1.2.840.10008.1.2.1', '1.2.840.10008.1.2.4.50')   # JPEG Baseline: lossy
    False
    """
    if (str(source_syntax) not in _UNCOMPRESSED or str(target_syntax) not in LOSSLESS
            or not available()):
        return False
    encoder = _codec('encoder', str(target_syntax))
    return bool(encoder is not None and encoder.is_available)


def compressed(path: str | os.PathLike[str], target_syntax: str) -> Dataset:
    """The data set of the Part-10 file ``path`` with its pixel data compressed, losslessly,
    to ``target_syntax``: in memory whole, its SOP Instance UID kept (a lossless encoding
    of the same pixel values is the same instance).

    Raises :class:`~pynetdicom2.exceptions.NetDICOMError` naming the file when it cannot be
    (pixel data an encoder does not take: a bit depth or colour model it lacks, say).
    """
    ds = dcmread(path)
    try:
        ds.compress(target_syntax, generate_instance_uid=False)
    except Exception as exc:  # the plugins raise many kinds
        raise NetDICOMError(
            f'{os.fspath(path)}: cannot compress its pixel data to {UID(target_syntax).name}: '
            f'{exc}'
        ) from None
    return ds


def decompressed(path: str | os.PathLike[str]) -> Dataset:
    """The data set of the Part-10 file ``path`` with its pixel data decoded: in memory
    whole, its file meta saying Explicit VR Little Endian (the encoding pydicom gives it).

    Raises :class:`~pynetdicom2.exceptions.NetDICOMError` naming the file when it cannot be
    decoded (no decoder, a plugin that fails on it).
    """
    try:
        from pydicom.pixels import decompress
    except ImportError as exc:  # pragma: no cover - checked by can_decompress
        raise NetDICOMError(f'{os.fspath(path)}: no pixel data decoders ({exc})') from None
    ds = dcmread(path)
    source = UID(ds.file_meta.TransferSyntaxUID)
    try:
        decompress(ds, generate_instance_uid=False)
    except Exception as exc:  # the plugins raise many kinds
        raise NetDICOMError(
            f'{os.fspath(path)}: cannot decode its {source.name} pixel data: {exc}'
        ) from None
    return ds
