"""Both themes pass WCAG AA: 4.5:1 for every text the palette, the tooltips, the banners, the Start tab's badges and
the charts show, and 3:1 for what is not text but must be seen: the outlines of check boxes, radio buttons and fields,
chart series."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pyqtgraph as pg
import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QStyle,
    QStyleOptionButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from core.compare import recommend, variant_rows
from studio.compare_panel import ComparePanel
from studio.guide import GuideStep, StepState
from studio.start_view import StepCard
from studio.theme import BADGES, BANNERS, CHOSEN, COSTLY, GOOD, NEUTRAL, OUTLINE, SERIES, THEMES, WARNING, apply_theme
from tests.helpers import answers, scored_variant

TEXT, NON_TEXT = 4.5, 3.0
Role, Group = QPalette.ColorRole, QPalette.ColorGroup
# (text, what it is drawn on) wherever a widget draws the one on the other; labels on Base in the Start tab's cards.
PALETTE_TEXT = (
    (Role.WindowText, Role.Window), (Role.WindowText, Role.Base), (Role.Text, Role.Base),
    (Role.Text, Role.AlternateBase), (Role.PlaceholderText, Role.Base), (Role.ButtonText, Role.Button),
    (Role.HighlightedText, Role.Highlight),
    (Role.Link, Role.Base), (Role.Link, Role.Window), (Role.LinkVisited, Role.Base), (Role.LinkVisited, Role.Window),
)
GROUPS = (Group.Active, Group.Inactive, Group.Disabled)


def luminance(colour: QColor) -> float:
    """WCAG 2 relative luminance."""
    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(colour.redF()) + 0.7152 * linear(colour.greenF()) + 0.0722 * linear(colour.blueF())


def contrast(a: QColor | str, b: QColor | str) -> float:
    light, dark = sorted((luminance(QColor(a)), luminance(QColor(b))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def below(pairs: Iterator[tuple[str, QColor | str, QColor | str]], threshold: float) -> list[str]:
    """The pairs that miss `threshold`, each named with its ratio."""
    return [f"{name}: {contrast(a, b):.2f}:1 < {threshold}:1" for name, a, b in pairs if contrast(a, b) < threshold]


@pytest.fixture(params=THEMES)
def theme(request, qapp) -> Iterator[str]:
    apply_theme(qapp, request.param)
    yield request.param
    apply_theme(qapp, "light")  # what every other test starts from


def test_every_text_of_the_palette_and_the_banners_is_readable(theme: str) -> None:
    palette = QApplication.instance().palette()

    def pairs() -> Iterator[tuple[str, QColor, QColor]]:
        for group in GROUPS:
            for text, ground in (*PALETTE_TEXT, (Role.ToolTipText, Role.ToolTipBase)):
                yield (f"{theme} {group.name} {text.name} on {ground.name}", palette.color(group, text),
                       palette.color(group, ground))
        for kind, (background, text, _) in BANNERS.items():
            yield f"{kind} banner", QColor(text), QColor(background)

    assert not below(pairs(), TEXT)


def test_tooltips_take_the_theme_colours(theme: str) -> None:
    """Qt keeps a palette of its own for tooltips: a dark theme showed them light yellow."""
    palette = QApplication.instance().palette()
    for role in (Role.ToolTipBase, Role.ToolTipText):
        assert QToolTip.palette().color(role) == palette.color(role), f"{theme} {role.name}"


def test_disabled_text_is_dimmer_than_enabled_text(theme: str) -> None:
    """Readable (the test above), yet a disabled control must look it."""
    palette = QApplication.instance().palette()
    for text, ground in ((Role.WindowText, Role.Window), (Role.Text, Role.Base), (Role.ButtonText, Role.Button)):
        enabled = contrast(palette.color(Group.Active, text), palette.color(Group.Active, ground))
        disabled = contrast(palette.color(Group.Disabled, text), palette.color(Group.Disabled, ground))
        assert disabled < 0.6 * enabled, f"{theme} disabled {text.name}: {disabled:.1f}:1 against {enabled:.1f}:1"


def test_check_box_radio_button_and_field_outlines_stand_out_from_window_and_field(theme: str) -> None:
    palette = QApplication.instance().palette()
    outline = OUTLINE[theme]
    grounds = (Role.Window, Role.Base, Role.AlternateBase)
    assert not below(((f"{theme} outline on {g.name}", outline, palette.color(g)) for g in grounds), NON_TEXT)


@pytest.mark.parametrize("kind", [QCheckBox, QRadioButton])
def test_an_unticked_indicator_is_drawn_with_a_visible_outline(qtbot, theme: str, kind) -> None:
    """Rendered, not only chosen: Fusion's own outline, 40 % darker than a dark window, was all but invisible."""
    box = kind("unticked")
    qtbot.addWidget(box)
    box.show()
    qtbot.waitExposed(box)
    image = box.grab().toImage()
    option = QStyleOptionButton()
    option.initFrom(box)
    element = (QStyle.SubElement.SE_CheckBoxIndicator if kind is QCheckBox
               else QStyle.SubElement.SE_RadioButtonIndicator)
    indicator = box.style().subElementRect(element, option, box)
    window = box.palette().color(Role.Window)
    edge = [image.pixelColor(x, indicator.center().y()) for x in range(indicator.left(), indicator.center().x())]
    assert max(contrast(pixel, window) for pixel in edge) >= NON_TEXT, f"{theme} {kind.__name__} outline"


@pytest.mark.parametrize("kind", [QLineEdit, QSpinBox, QComboBox])
def test_a_field_is_drawn_with_a_visible_frame(qtbot, theme: str, kind) -> None:
    """Rendered: Fusion draws a field's frame 40 % darker than the window: 2:1 on a light one, 1.1:1 on a dark one."""
    window = QWidget()
    qtbot.addWidget(window)
    field = kind()
    QVBoxLayout(window).addWidget(field)
    window.show()
    qtbot.waitExposed(window)
    image = window.grab().toImage()
    ground = QApplication.palette().color(Role.Window)
    middle = field.geometry().center().y()
    edge = [image.pixelColor(x, middle) for x in range(field.x(), field.x() + 3)]
    assert max(contrast(pixel, ground) for pixel in edge) >= NON_TEXT, f"{theme} {kind.__name__} frame"


def test_every_step_badge_is_readable() -> None:
    """Fixed colours, as the banners: one pair for each state a step can be in."""
    missing = {state.name.lower() for state in StepState} - set(BADGES)
    assert not missing, f"states without a badge: {sorted(missing)}"
    assert not below(((f"{kind} badge", text, ground) for kind, (ground, text) in BADGES.items()), TEXT)


@pytest.mark.parametrize("state", list(StepState))
def test_a_step_badge_is_drawn_in_its_colours(qtbot, theme: str, state: StepState) -> None:
    """Rendered: the style sheet matches the badge's kind (a state name, lower-cased) and paints its pair."""
    card = StepCard(1)
    qtbot.addWidget(card)
    card.show_step(GuideStep("Measure", state, "detail", ""))
    card.show()
    qtbot.waitExposed(card)
    image = card.badge.grab().toImage()
    pixels = Counter(image.pixelColor(x, y).name() for x in range(image.width()) for y in range(image.height()))
    ground, text = BADGES[state.name.lower()]
    assert pixels.most_common(1)[0][0] == ground, f"{theme} {state.name} badge background"
    assert QColor(text) == card.badge.palette().color(card.badge.foregroundRole()), f"{theme} {state.name} text"


def test_chart_text_and_series_colours_meet_the_thresholds(theme: str) -> None:
    palette = QApplication.instance().palette()
    background, foreground = pg.getConfigOption("background"), pg.getConfigOption("foreground")
    assert QColor(background) == palette.color(Role.Base) and QColor(foreground) == palette.color(Role.Text)
    assert not below(iter([(f"{theme} chart text", foreground, background)]), TEXT)
    colours = (*SERIES, WARNING, NEUTRAL, GOOD, COSTLY, CHOSEN)
    series = [(f"{theme} series {colour}", colour, background) for colour in colours]
    assert not below(iter(series), NON_TEXT)


def test_charts_drawn_before_a_theme_switch_follow_it_titles_axes_and_legends_included(qtbot, qapp) -> None:
    apply_theme(qapp, "light")
    panel = ComparePanel()
    qtbot.addWidget(panel)
    rows = variant_rows([scored_variant("fp32", None, *answers(set())),
                         scored_variant("int8", "fp32", *answers({0}), ratio=(0.4, 0.38, 0.43))])
    panel.show()
    panel.show_rows(rows, recommend(rows))
    try:
        apply_theme(qapp, "dark")
        pairs = []
        for chart in (panel.bars, panel.pareto_latency, panel.pareto_size, panel.channels, panel.deployment.plot):
            background = chart.backgroundBrush().color()
            for item in chart.items():
                name = f"{type(chart).__name__} {type(item).__name__}"
                if isinstance(item, pg.AxisItem):
                    pairs += [(f"{name} ticks", item.textPen().color(), background),
                              (f"{name} label", QColor(item.labelStyle["color"]), background)]
                elif isinstance(item, pg.LabelItem) and item.text:  # titles and legend entries
                    pairs.append((f"{name} '{item.text}'", QColor(item.opts["color"]), background))
        assert len(pairs) > 20 and not below(iter(pairs), TEXT)
        assert any("'fp32'" in name for name, _, _ in pairs), "legend entries are checked"
    finally:
        apply_theme(qapp, "light")
