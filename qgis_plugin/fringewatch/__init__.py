"""Fringewatch QGIS plugin: detect active slow landslides in Sentinel-1 wrapped
interferograms with the fringewatch native library."""


def classFactory(iface):  # noqa: N802 - QGIS plugin API name
    from .plugin import FringewatchPlugin

    return FringewatchPlugin(iface)
