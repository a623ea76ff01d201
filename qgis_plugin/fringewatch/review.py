"""Reviewing detections one by one: the next unreviewed box (highest score first), zoomed to,
confirmed or rejected with one key, and the counts of what is left.

:class:`ReviewSession` is the logic on a detection layer (any layer with a ``review`` field:
fringewatch's detection, overlay and persistence layers); :class:`ReviewDock` is the panel that
drives it from the map canvas. Reviews are written straight to the layer's file (or into the
layer's edit buffer when the analyst has it in edit mode), one feature at a time, so nothing is
lost when QGIS closes; the GeoPackage itself refuses any value but the three (a trigger the
library writes with the layer).
"""

from qgis.core import QgsFeatureRequest, QgsVectorLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QKeySequence
from qgis.PyQt.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QShortcut,
    QVBoxLayout,
    QWidget,
)

REVIEW_VALUES = ["unreviewed", "confirmed", "rejected"]

# One key each, active while the panel has the focus.
KEYS = {"next": "N", "previous": "P", "confirmed": "C", "rejected": "X",
        "unreviewed": "U"}


class ReviewError(Exception):
    """The layer cannot be reviewed, or a review was not stored; the message says why."""


class ReviewSession:
    """Walks the unreviewed features of `layer`, highest score first (then by fid)."""

    def __init__(self, layer):
        if not isinstance(layer, QgsVectorLayer) or not layer.isValid():
            raise ReviewError("choose a vector layer of detections")
        fields = layer.fields()
        if fields.indexOf("review") < 0:
            raise ReviewError(f"{layer.name()} has no 'review' field: not a fringewatch layer")
        self.layer = layer
        self.review = fields.indexOf("review")
        self.reviewer = fields.indexOf("reviewer")
        self.score = fields.indexOf("score")
        self.current = None

    def _order(self):
        """(fid, review) of every feature in review order."""
        request = QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry)
        request.setSubsetOfAttributes([i for i in (self.review, self.score) if i >= 0])
        rows = []
        for feature in self.layer.getFeatures(request):
            score = feature[self.score] if self.score >= 0 else None
            score = float(score) if isinstance(score, (int, float)) else 0.0
            rows.append((-score, feature.id(), feature[self.review]))
        rows.sort()
        return [(fid, review) for _, fid, review in rows]

    def counts(self):
        """How many features have each review value (other values under their own name)."""
        counts = {value: 0 for value in REVIEW_VALUES}
        for _, review in self._order():
            key = review if isinstance(review, str) else "unreviewed"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def _step(self, direction):
        order = self._order()
        unreviewed = [fid for fid, review in order if review in (None, "", "unreviewed")]
        if not unreviewed:
            self.current = None
            return None
        fids = [fid for fid, _ in order]
        start = fids.index(self.current) if self.current in fids else -1
        if start < 0 and direction < 0:
            start = len(fids)
        for k in range(1, len(fids) + 1):
            fid = fids[(start + direction * k) % len(fids)]
            if fid in unreviewed:
                self.current = fid
                return fid
        return None

    def next(self):
        """The next unreviewed feature after the current one (wrapping), or None when none is
        left; it becomes the current one."""
        return self._step(+1)

    def previous(self):
        """The unreviewed feature before the current one (wrapping), or None."""
        return self._step(-1)

    def set_review(self, value, reviewer=""):
        """Store `value` (and the reviewer's name) on the current feature."""
        if value not in REVIEW_VALUES:
            raise ReviewError(f"review must be one of: {', '.join(REVIEW_VALUES)}")
        if self.current is None:
            raise ReviewError("no detection is selected: go to the next one first")
        changes = {self.review: value}
        if self.reviewer >= 0 and reviewer:
            changes[self.reviewer] = reviewer
        if self.layer.isEditable():
            ok = all(self.layer.changeAttributeValue(self.current, index, new)
                     for index, new in changes.items())
        else:
            ok = self.layer.dataProvider().changeAttributeValues({self.current: changes})
            self.layer.reload()
        if not ok:
            errors = "; ".join(self.layer.dataProvider().errors()) or "refused by the layer"
            raise ReviewError(f"the review was not stored: {errors}")


class ReviewDock(QDockWidget):
    """The review panel: counts, previous / next, confirm / reject / unreviewed, the reviewer's
    name. Each move zooms the canvas to the detection and flashes it."""

    def __init__(self, canvas, parent=None):
        super().__init__("Fringewatch review", parent)
        self.setObjectName("FringewatchReview")
        self.canvas = canvas
        self.session = None
        body = QWidget()
        column = QVBoxLayout(body)
        self.status = QLabel("Choose a detection layer")
        self.status.setWordWrap(True)
        column.addWidget(self.status)
        self.reviewer = QLineEdit()
        self.reviewer.setPlaceholderText("reviewer (your name)")
        column.addWidget(self.reviewer)
        self.buttons = {}
        for row in (("previous", "next"), ("confirmed", "rejected", "unreviewed")):
            line = QHBoxLayout()
            for action in row:
                button = QPushButton(f"{action.capitalize()} [{KEYS[action]}]")
                button.clicked.connect(lambda _=False, a=action: self.act(a))
                line.addWidget(button)
                self.buttons[action] = button
            column.addLayout(line)
        self.shortcuts = {}
        for action, key in KEYS.items():
            shortcut = QShortcut(QKeySequence(key), body)
            shortcut.setContext(Qt.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda a=action: self.act(a))
            self.shortcuts[action] = shortcut
        self.setWidget(body)

    def set_layer(self, layer):
        """Review `layer` (None or an unsuitable layer: the panel says so and waits)."""
        try:
            self.session = ReviewSession(layer) if layer is not None else None
        except ReviewError as error:
            self.session = None
            self.status.setText(str(error))
            return
        self.refresh()

    def act(self, action):
        if self.session is None:
            return
        try:
            if action in ("next", "previous"):
                fid = self.session.next() if action == "next" else self.session.previous()
                if fid is not None:
                    self.canvas.zoomToFeatureIds(self.session.layer, [fid])
                    self.canvas.flashFeatureIds(self.session.layer, [fid])
            else:
                self.session.set_review(action, self.reviewer.text().strip())
                self.session.next()
                if self.session.current is not None:
                    self.canvas.zoomToFeatureIds(self.session.layer, [self.session.current])
        except ReviewError as error:
            self.status.setText(str(error))
            return
        self.refresh()

    def refresh(self):
        counts = self.session.counts()
        left = counts.get("unreviewed", 0)
        current = self.session.current
        where = f"detection {current}" if current is not None else "none selected"
        self.status.setText(
            f"{self.session.layer.name()}: {left} left to review, "
            f"{counts.get('confirmed', 0)} confirmed, {counts.get('rejected', 0)} rejected "
            f"({where})")
