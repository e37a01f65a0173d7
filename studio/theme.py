"""The studio's colours, in one place: each theme's widget palette, the banners and the Start tab's badges, the
outlines of check boxes, radio buttons and fields, and the charts (which read them from here).

Every pair a user reads meets WCAG AA (tests/studio/test_contrast.py): text 4.5:1 against what it sits on,
outlines and chart series 3:1. An explicit palette because colour-scheme hints do nothing offscreen.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QToolTip

from studio.indicator_style import OutlinedIndicatorStyle

Role = QPalette.ColorRole

# The same colours in the active and inactive groups; the disabled group differs only in its text (below).
PALETTES: dict[str, dict[QPalette.ColorRole, str]] = {
    "light": {
        Role.Window: "#f4f5f7", Role.WindowText: "#1d1f23", Role.Base: "#ffffff", Role.AlternateBase: "#eef1f5",
        Role.Text: "#1d1f23", Role.Button: "#e9ebef", Role.ButtonText: "#1d1f23", Role.Highlight: "#1f6feb",
        Role.HighlightedText: "#ffffff", Role.ToolTipBase: "#ffffe1", Role.ToolTipText: "#1d1f23",
        Role.PlaceholderText: "#5f6670", Role.Link: "#0b57d0", Role.LinkVisited: "#7b1fa2",
    },
    "dark": {
        Role.Window: "#1e2024", Role.WindowText: "#e6e6e6", Role.Base: "#15171a", Role.AlternateBase: "#23262b",
        Role.Text: "#e6e6e6", Role.Button: "#2b2e34", Role.ButtonText: "#e6e6e6", Role.Highlight: "#2563eb",
        Role.HighlightedText: "#ffffff", Role.ToolTipBase: "#2b2e34", Role.ToolTipText: "#e6e6e6",
        Role.PlaceholderText: "#9aa0a8", Role.Link: "#6ea8fe", Role.LinkVisited: "#c58af9",
    },
}
THEMES = tuple(PALETTES)

# Disabled controls: visibly dimmer than enabled ones, yet still readable.
DISABLED_TEXT = {"light": "#5f6670", "dark": "#9aa0a8"}
# Outlines of check boxes, radio buttons and fields (line edits, spin boxes, combo boxes): Fusion draws them 40 %
# darker than the window, invisible on a dark one, and only 2:1 on a light one.
OUTLINE = {"light": "#6b7280", "dark": "#8b919a"}
# The border of the Start tab's step cards: it only groups what the card's text already says, so it may be soft.
CARD_BORDER = {"light": "#d5d9e0", "dark": "#3a3f47"}

# Charts: one colour per variant, each 3:1 against both themes' chart backgrounds (the palette's Base), so a
# theme switch recolours only backgrounds and text. Red is kept for collapsed variants and the target lines.
SERIES = ("#1f77b4", "#c96a0a", "#2ca02c", "#9467bd", "#a0634f", "#cc4fa6", "#8a7f00", "#0f8c99")
WARNING = "#d62728"
NEUTRAL = "#808080"  # error bars, the Pareto front, a parent's channels
# The Compress tab's verdicts, with WARNING for what loses too many answers and NEUTRAL for what was only scanned:
# what keeps its answers, what costs some, and the candidate the search chose (a star as well as darker).
GOOD, COSTLY, CHOSEN = "#2ca02c", "#c96a0a", "#2e7d32"

# Banners keep their colours in both themes: (background, text, border).
BANNERS = {"warning": ("#fff4ce", "#5c4400", "#e0c060"), "error": ("#fde7e9", "#8a1020", "#e08090")}

# The Start tab's step badges, keyed by StepState name, lower-cased: fixed (background, text) like the banners.
BADGES = {
    "done": ("#dcf5e3", "#14532d"), "ready": ("#dbeafe", "#1e3a8a"), "running": ("#e5e7eb", "#374151"),
    "waiting": ("#e5e7eb", "#374151"), "needs_data": ("#fff4ce", "#5c4400"), "attention": ("#fde7e9", "#8a1020"),
}


def _style(name: str) -> str:
    return "\n".join([
        "QLabel#modelTitle { font-size: 18pt; font-weight: 600; }",
        "QLabel#banner { padding: 8px; border-radius: 4px; }",
        *(f'QLabel#banner[kind="{kind}"] {{ background: {background}; color: {text}; border: 1px solid {border}; }}'
          for kind, (background, text, border) in BANNERS.items()),
        f"QFrame#stepCard {{ background: palette(base); border: 1px solid {CARD_BORDER[name]}; border-radius: 6px;"
        " padding: 4px; }",
        "QLabel#stepTitle { font-size: 13pt; font-weight: 600; }",
        "QLabel#stepNumber { background: palette(highlight); color: palette(highlighted-text); font-weight: 600;"
        " border-radius: 12px; min-width: 24px; max-width: 24px; min-height: 24px; max-height: 24px;"
        " qproperty-alignment: AlignCenter; }",
        "QLabel#badge { border-radius: 9px; padding: 1px 8px; font-weight: 600; }",
        *(f'QLabel#badge[kind="{kind}"] {{ background: {background}; color: {text}; }}'
          for kind, (background, text) in BADGES.items()),
        # A file dragged over the window: the "ready" colours when it can be dropped, "attention" when it cannot.
        "QLabel#dropOverlay { font-size: 16pt; font-weight: 600; border: 3px dashed; border-radius: 8px; }",
        *(f'QLabel#dropOverlay[kind="{kind}"] {{ background: {BADGES[badge][0]}; color: {BADGES[badge][1]}; }}'
          for kind, badge in (("accepted", "ready"), ("refused", "attention"))),
    ])


def palette(name: str) -> QPalette:
    colours = PALETTES[name]
    # Built from the button and window colours, so that the bevel shades Fusion derives suit a dark theme too.
    result = QPalette(QColor(colours[Role.Button]), QColor(colours[Role.Window]))
    for role, colour in colours.items():
        result.setColor(role, QColor(colour))
    for role in (Role.WindowText, Role.Text, Role.ButtonText):
        result.setColor(QPalette.ColorGroup.Disabled, role, QColor(DISABLED_TEXT[name]))
    return result


_FIELDS = ("QLineEdit", "QAbstractSpinBox", "QComboBox")  # class names, subclasses included


def _field_palette(themed: QPalette, name: str) -> QPalette:
    """Fusion draws a field's frame in the field's window colour, 40 % darker, and paints nothing else of a field in
    it; fields get the window colour that comes out as the theme's outline, and keep Fusion's look otherwise (a
    style sheet border would replace all of it: frame, spin buttons, arrows)."""
    field = QPalette(themed)
    field.setColor(Role.Window, QColor(OUTLINE[name]).lighter(140))
    return field


def apply_theme(app: QApplication, name: str = "light") -> None:
    """Style, palette (tooltips too) and style sheet for widgets; background and text for charts, existing ones
    included."""
    app.setStyle(OutlinedIndicatorStyle(QColor(OUTLINE[name])))
    themed = palette(name)
    app.setPalette(themed)  # which drops the field palettes of the theme before
    for field in _FIELDS:
        app.setPalette(_field_palette(themed, name), field)  # type: ignore[arg-type]  # stubs: bytes; PySide: str
    QToolTip.setPalette(themed)
    app.setStyleSheet(_style(name))
    _restyle_charts(app, PALETTES[name][Role.Base], PALETTES[name][Role.Text])


def _restyle_charts(app: QApplication, background: str, foreground: str) -> None:
    """pyqtgraph reads its colours when an item is made: new items take them from its options, and those already
    drawn (axes, titles, legend entries, notes) are recoloured here."""
    pg.setConfigOptions(background=background, foreground=foreground, antialias=True)
    for widget in app.allWidgets():
        if isinstance(widget, pg.GraphicsView):
            widget.setBackground(background)
            for item in widget.items():
                if isinstance(item, pg.AxisItem):
                    item.setPen(foreground)
                    item.setTextPen(foreground)
                elif isinstance(item, pg.LabelItem):  # plot titles and legend entries
                    item.setText(item.text, color=foreground)
                elif isinstance(item, pg.TextItem):  # notes inside a plot
                    item.setColor(foreground)
