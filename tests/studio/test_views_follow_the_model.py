"""Open a user's model after a stock one that has variants, a search result and an export: every view (Model,
Start, Compress, Variants, Compare, Export) shows the user's model, and no text of the stock one remains but in the
Variants tab's selector, which lists the other lineage."""

from __future__ import annotations

import torch

from core.export.report import ExportReport
from core.zoo.registry import ModelSpec
from studio.guide import StepState


def test_every_view_follows_the_users_model_opened_after_the_stock_one(qtbot, window, tiny_project, tmp_path) -> None:
    window.set_project(tiny_project)
    stock = tiny_project.variants[0]
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.use_variant_as_model(stock.id)
    window.select_variant(tiny_project.variants[1].id)
    window.compress_panel.show_outcome(f"{stock.name}: a search result", missed=False)
    window.compress_panel.search_chart.add_candidate({"latency_ratio": 0.5, "agreement": 99.0, "verdict": "met"})
    window.export_panel.show_report(ExportReport({"name": stock.name}, [], {"n": 40, "dataset": "x"}), tmp_path)
    window.start.note_bundles([str(tmp_path / f"{stock.name}-android.zip")])
    assert window.start.steps[3].state is StepState.DONE and window.compress_panel.search_chart.rows

    checkpoint = tmp_path / "my_model.pth"
    torch.save(ModelSpec("mobilenet_v3_small", resolution=64, num_classes=3).build().state_dict(), checkpoint)
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_file(checkpoint)

    def said(text: str) -> bool:
        return stock.name in text  # "tiny", and "tiny copy" with it

    assert window.view.title.text() == "my_model" and window.model_settings.names.count() == 3  # Model
    assert not any(said(step.detail) for step in window.start.steps), "Start"
    assert window.start.steps[3].state is not StepState.DONE, "Start's step 4 was the stock model's bundle"
    compress = window.compress_panel
    assert not compress.search_chart.rows and compress.outcome.isHidden(), "Compress: the stock model's search"
    variants = window.variants_panel
    assert variants.model.rows == [], "Variants: the user's model has none yet"
    choices = [variants.lineages.itemText(i) for i in range(variants.lineages.count())]
    assert choices[0] == "The current model (no variants yet)" and f"{stock.name} and its variants" in choices
    compare = window.compare_panel
    assert not said(compare.card.text()) and not said(compare.headline.text()), "Compare"
    export = window.export_panel
    assert "my_model" in export.source.text() and not said(export.source.text()), "Export: what it exports"
    assert export.report_table.rowCount() == 0 and not said(export.summary.text()), "Export: the stock's report"


def test_a_failed_load_is_said_once_and_not_again_over_the_model_still_open(qtbot) -> None:
    from dataclasses import replace

    from core.inspect import describe
    from core.zoo.loading import create_model
    from studio.model_panel import ModelView
    from studio.state import StudioState
    from tests.helpers import TINY

    view = ModelView()
    qtbot.addWidget(view)
    report = describe(create_model(TINY, "none"))
    state = StudioState(report=report)
    view.follow(state)
    state.error = "broken.pth is not a model"
    assert "broken.pth" in view.banner.text()
    state.report = replace(report, model=report.model.with_preprocessing(crop=0.9))  # an edit of the open model
    assert "broken.pth" not in view.banner.text(), "the open model's card, not the last failure"
