"""fringewatch for Python: the ctypes binding of the C library (:mod:`fringewatch.native`) and
detection of many interferograms on a Dask cluster (:mod:`fringewatch.distributed`).

The QGIS plugin is a separate package (``qgis_plugin/``) that shares :mod:`fringewatch.native`.
"""

__version__ = "0.1.0"
