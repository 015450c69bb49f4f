"""Interoperability tests: pynetdicom2 against real peers (DCMTK's tools and pynetdicom).

Every test here is marked ``interop`` and skips, naming what is missing, when its peer is not
installed; CI installs both (``.ci/run``), so there they run.
"""
