"""Plugin entry: registers the Processing provider (the algorithms live in the toolbox, the
Graphical Modeler and processing.run)."""

from qgis.core import QgsApplication

from .provider import FringewatchProvider


class FringewatchPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 - QGIS plugin API name
        # Keep a reference: an unreferenced provider is garbage-collected.
        self.provider = FringewatchProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
