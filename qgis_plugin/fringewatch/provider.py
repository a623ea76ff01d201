"""The "Fringewatch" Processing provider."""

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import ALGORITHMS

ICON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icon.svg")


class FringewatchProvider(QgsProcessingProvider):
    def id(self):
        return "fringewatch"

    def name(self):
        return "Fringewatch"

    def longName(self):  # noqa: N802 - QGIS API name
        return "Fringewatch: active slow landslides in Sentinel-1 wrapped interferograms"

    def icon(self):
        return QIcon(ICON)

    def loadAlgorithms(self):  # noqa: N802
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())

    def supportedOutputRasterLayerExtensions(self):  # noqa: N802
        return ["tif"]

    def supportedOutputVectorLayerExtensions(self):  # noqa: N802
        return ["gpkg", "geojson"]

    def defaultVectorFileExtension(self, has_geometry=True):  # noqa: N802
        return "gpkg"

    def defaultRasterFileExtension(self):  # noqa: N802
        return "tif"
