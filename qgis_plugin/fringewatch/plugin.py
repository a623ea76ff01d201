"""Plugin entry: registers the Processing provider (the algorithms live in the toolbox, the
Graphical Modeler and processing.run) and, in the desktop, the review panel."""

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QAction

from .provider import FringewatchProvider


class FringewatchPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.review = None
        self.review_action = None

    def initProcessing(self):  # noqa: N802 - QGIS plugin API name
        # Keep a reference: an unreferenced provider is garbage-collected.
        self.provider = FringewatchProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()
        if self.iface is None:
            return
        from .review import ReviewDock

        self.review = ReviewDock(self.iface.mapCanvas(), self.iface.mainWindow())
        self.iface.addDockWidget(Qt.RightDockWidgetArea, self.review)
        self.review.hide()
        self.review_action = QAction("Review detections", self.iface.mainWindow())
        self.review_action.setCheckable(True)
        self.review_action.toggled.connect(self._show_review)
        self.review.visibilityChanged.connect(self.review_action.setChecked)
        self.iface.addPluginToMenu("Fringewatch", self.review_action)
        self.iface.addToolBarIcon(self.review_action)
        self.iface.currentLayerChanged.connect(self._layer_changed)

    def _show_review(self, visible):
        self.review.setVisible(visible)
        if visible:
            self.review.set_layer(self.iface.activeLayer())

    def _layer_changed(self, layer):
        if self.review is not None and self.review.isVisible():
            self.review.set_layer(layer)

    def unload(self):
        if self.review is not None:
            self.iface.currentLayerChanged.disconnect(self._layer_changed)
            self.iface.removePluginMenu("Fringewatch", self.review_action)
            self.iface.removeToolBarIcon(self.review_action)
            self.iface.removeDockWidget(self.review)
            self.review.deleteLater()
            self.review = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
