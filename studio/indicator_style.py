"""Fusion with check box and radio button outlines that can be seen on any theme."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QProxyStyle, QStyle, QStyleOption, QWidget

_INDICATORS = (QStyle.PrimitiveElement.PE_IndicatorCheckBox, QStyle.PrimitiveElement.PE_IndicatorRadioButton)


class OutlinedIndicatorStyle(QProxyStyle):
    """Fusion draws these outlines 40 % darker than the window colour: on a dark window an unticked box is all but
    invisible. This style draws them again, on Fusion's own geometry, in a colour the theme chose to stand out
    (3:1) from both the window and the field. Check boxes in tables and group boxes come through here too."""

    def __init__(self, outline: QColor) -> None:
        super().__init__("Fusion")
        self.outline = outline

    def drawPrimitive(self, element: QStyle.PrimitiveElement, option: QStyleOption, painter: QPainter,
                      widget: QWidget | None = None) -> None:
        super().drawPrimitive(element, option, painter, widget)
        state = option.state
        keyboard_focus = state & QStyle.StateFlag.State_HasFocus and state & QStyle.StateFlag.State_KeyboardFocusChange
        if element not in _INDICATORS or keyboard_focus:  # Fusion's focus outline is the highlight colour: kept
            return
        rect = option.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(self.outline))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if element == QStyle.PrimitiveElement.PE_IndicatorCheckBox:
            painter.drawRect(QRectF(rect).adjusted(0.5, 0.5, -0.5, -0.5))
        else:
            radius = (rect.width() + (rect.width() + 1) % 2) / 2.0 - 1
            painter.drawEllipse(QPointF(rect.center()) + QPointF(1, 1), radius, radius)
        painter.restore()
