"""Dialog widgets of the Fringewatch algorithms that Processing's own do not provide."""

from processing.gui.wrappers import WidgetWrapper
from qgis.gui import QgsDoubleSpinBox

class CustomHeadingWrapper(WidgetWrapper):
    """The custom heading's spin box, enabled only while "Orbit" is `custom_choice` (with any
    other choice the value would be ignored, so the dialog does not offer it). `custom_choice`
    comes from the parameter's metadata: {"widget_wrapper": {"class": CustomHeadingWrapper,
    "custom_choice": "Custom heading"}}."""

    NOT_SET = -361.0  # below every heading: shown as "Not set"

    def createWidget(self, custom_choice):  # noqa: N802 - QGIS API name
        self.custom_choice = custom_choice
        box = QgsDoubleSpinBox()
        box.setRange(self.NOT_SET, 360.0)
        box.setDecimals(2)
        box.setSingleStep(0.5)
        box.setShowClearButton(True)
        box.setClearValueMode(QgsDoubleSpinBox.MinimumValue, self.tr("Not set"))
        box.clear()
        box.valueChanged.connect(lambda _value: self.widgetValueHasChanged.emit(self))
        return box

    def setValue(self, value):  # noqa: N802 - QGIS API name
        try:
            self.widget.setValue(float(value))
        except (TypeError, ValueError):  # not set, or a model's input rather than a number
            self.widget.clear()

    def value(self):
        number = self.widget.value()
        return None if number <= self.NOT_SET else number

    def postInitialize(self, wrappers):  # noqa: N802 - QGIS API name
        for wrapper in wrappers:
            definition = wrapper.parameterDefinition()
            if definition.name() == "ORBIT" and self.custom_choice in definition.options():
                custom = definition.options().index(self.custom_choice)
                wrapper.widgetValueHasChanged.connect(
                    lambda orbit, custom=custom: self.widget.setEnabled(
                        orbit.parameterValue() == custom))
                self.widget.setEnabled(wrapper.parameterValue() == custom)
                return
