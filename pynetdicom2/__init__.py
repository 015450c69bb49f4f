"""pynetdicom2: DICOM networking (PS3.7 DIMSE over the PS3.8 upper layer) in pure Python."""

__version__ = '1.0.0.dev0'
