"""The tabs one by one: undo/redo, themes, data problems, cancel, variants and projects, the graph view."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from core.export.bundle import AppBundle
from core.project import Project
from core.recipe import PruneStep, QuantizeStep, Recipe, Runtime, TargetStep
from studio.state import ZooChoice
from tests.helpers import TINY


def test_recipe_edits_undo_and_redo_including_a_dragged_slider(window) -> None:
    panel = window.compress_panel
    original = window.state.recipe
    assert isinstance(original.steps[0], TargetStep) and not panel.target_form.isHidden()  # the plain form first
    panel.max_drop.setValue(0.5)
    assert window.state.recipe.steps[0].max_drop == 0.5
    panel.advanced.setChecked(True)
    assert panel.target_form.isHidden() and not panel.prune.isHidden()
    panel.prune.setChecked(True)
    for value in (10, 20, 30, 40):  # one drag: merges into one undo step
        panel.prune.ratio.setValue(value)
    (prune, quantize) = window.state.recipe.steps
    assert isinstance(prune, PruneStep) and prune.ratio == 0.4 and isinstance(quantize, QuantizeStep)
    assert panel.preset.currentText() == "Custom" and panel.prune.ratio_label.text() == "40%"
    window.undo_stack.undo()
    assert window.state.recipe.steps[0].ratio == 0.3 and panel.prune.ratio.value() == 30  # before the drag: default
    window.undo_stack.undo()
    window.undo_stack.undo()
    assert not panel.target_form.isHidden() and window.state.recipe.steps[0].max_drop == 0.5
    window.undo_stack.undo()
    assert window.state.recipe == original and panel.preset.currentText() == "Near-lossless int8"
    for _ in range(4):
        window.undo_stack.redo()
    assert window.state.recipe.steps[0].ratio == 0.4 and panel.prune.ratio.value() == 40
    assert Recipe.from_json(str(QSettings().value("recipe"))) == window.state.recipe  # autosaved draft


def test_a_budget_below_the_measured_first_answer_is_refused_in_the_form(window, qtbot) -> None:
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=96, pretrained=False))
    panel = window.compress_panel
    assert panel.budget.minimum() == 1 and "The first search of this model measures" in panel.eta.text()
    window.settings.setValue(window.state.first_answer_key(), 250.0)  # this model's last search here: 4.2 min
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):  # known from the moment the model is opened
        window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=96, pretrained=False))
    window.assign_recipe(Recipe("t", (TargetStep(budget_minutes=3.0),)))  # typed, or a preset's
    assert panel.budget.minimum() == 5 and panel.budget.value() == 5, "3 minutes cannot be asked for"
    assert window.state.recipe.step(TargetStep).budget_minutes == 5.0
    assert "took 4.2 min" in panel.eta.text()
    edits = window.undo_stack.count()
    window.undo_stack.undo()  # the raise was part of the edit: undoing it pushes nothing new
    assert window.undo_stack.count() == edits and window.undo_stack.canRedo()
    window.undo_stack.redo()
    assert window.state.recipe == Recipe("t", (TargetStep(budget_minutes=5.0),))


def test_an_android_bundle_next_makes_the_search_time_speed_in_litert_undoably(window) -> None:
    panel, original = window.compress_panel, window.state.recipe
    window.export_panel.choose_bundle(AppBundle.ANDROID)
    assert window.state.recipe.step(TargetStep).runtime is Runtime.LITERT
    assert panel.runtime.currentData() == "litert" and panel.preset.currentText() == original.name, "still the preset"
    window.undo_stack.undo()
    assert window.state.recipe == original, "the user may go back to ONNX Runtime"
    panel.preset.setCurrentIndex(panel.preset.findText("Balanced"))
    panel.preset.activated.emit(panel.preset.currentIndex())
    assert window.state.recipe.step(TargetStep).runtime is Runtime.LITERT, "a preset chosen after: LiteRT too"
    assert panel.preset.currentText() == "Balanced"
    window.export_panel.choose_bundle(None)
    panel.preset.activated.emit(panel.preset.currentIndex())
    assert window.state.recipe.step(TargetStep).runtime is not Runtime.LITERT, "no bundle: the preset's own"


def test_the_target_form_speaks_plain_words_and_its_hint_follows_the_data(window) -> None:
    panel = window.compress_panel
    labels = {panel.target_form.layout().labelForField(w).text() for w in (panel.goal, panel.max_drop, panel.budget)}
    assert labels == {"What matters most", "Points of accuracy I can lose", "Minutes I can wait"}
    assert panel.run_button.text() == "Find the best model" and "until 3 min" in panel.eta.text()
    assert all(w.whatsThis() for w in (panel.goal, panel.max_drop, panel.budget, panel.runtime, panel.allow_int8))
    window.set_data_folder("evaluation", "")
    assert "labelled evaluation images" in panel.needs.text()
    assert "cannot be told apart" not in panel.eta.text(), "no images chosen: nothing to say what they resolve"
    panel.advanced.setChecked(True)  # static int8 by hand needs calibration images only
    assert "evaluation" not in panel.needs.text()


def test_an_invalid_edit_is_explained_and_not_applied(window) -> None:
    panel = window.compress_panel
    window.tabs.setCurrentWidget(panel)
    panel.advanced.setChecked(True)
    before = window.state.recipe
    panel.quantize.setChecked(False)  # the recipe's only step: nothing left to run
    assert panel.error.isVisible() and "needs at least one step" in panel.error.text()
    assert window.state.recipe == before


def test_themes_switch_and_are_remembered(window) -> None:
    window.theme_actions["dark"].trigger()
    app = QApplication.instance()
    assert app.palette().color(QPalette.ColorRole.Window).name() == "#1e2024"
    assert QSettings().value("theme") == "dark"
    chart = window.compare_panel.pareto_latency
    assert chart.backgroundBrush().color().name() == "#15171a"  # charts follow the theme too
    window.set_theme("light")
    assert app.palette().color(QPalette.ColorRole.Window).name() == "#f4f5f7"


def test_an_empty_data_folder_is_reported_and_nothing_else_changes(qtbot, window, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with qtbot.waitSignal(window.problem_shown, timeout=30_000) as dialog:
        window.set_data_folder("calib", str(empty))
    assert dialog.args[0].startswith("Calibration images: no usable images") and "labels.csv" in dialog.args[0]
    row = window.data_panel.rows["calib"]
    assert "no usable images" in row.status.text() and "calib" not in window.state.datasets
    assert "Calibration images: no usable images" in window.data_panel.problems.toPlainText()
    window.undo_stack.undo()
    assert window.state.folders.calib != str(empty)


def test_cancelling_a_compression_stores_no_variant(qtbot, window, calib_dir) -> None:
    window.set_data_folder("calib", str(calib_dir))
    window.set_data_folder("evaluation", "")
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v2", pretrained=False))
    qtbot.waitUntil(lambda: "calib" in window.state.datasets, timeout=30_000)
    window.compress_panel.advanced.setChecked(True)  # static int8 by hand
    job = window.compress_current()
    assert job is not None
    with qtbot.waitSignal(job.progressed, timeout=60_000):
        pass
    window.cancel_button.click()
    with qtbot.waitSignal(job.finished, timeout=30_000):
        pass
    assert job.state == "cancelled"
    project = window.state.project
    assert project is not None and not [v for v in project.variants if v.parent]  # no compressed variant
    assert Project.open(project.root).variants == project.variants  # and the folder agrees
    qtbot.waitUntil(lambda: not window.cancel_button.isVisible())
    assert window.jobs_panel.table.item(window.jobs_panel.table.rowCount() - 1, 1).text() == "cancelled"


def test_a_queued_job_cancelled_before_it_starts_never_runs(qtbot, window) -> None:
    first = window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=96, pretrained=False))
    ran: list[bool] = []
    second = window.runner.start("never", lambda progress: ran.append(True))
    assert second.state == "queued"
    second.cancel()
    with qtbot.waitSignal(second.finished, timeout=60_000):
        pass
    assert second.state == "cancelled" and not ran
    qtbot.waitUntil(lambda: not first.running, timeout=60_000)


def test_variants_table_rename_undo_and_lineage(qtbot, window, tiny_project: Project) -> None:
    window.set_project(tiny_project)
    table = window.variants_panel.model
    assert [row.name for row in table.rows] == ["tiny", "tiny copy"]
    assert table.index(1, 4).data() == "5.00" and table.index(1, 7).data() == "–"  # unmeasured stays missing
    lineage = window.variants_panel.lineage
    assert lineage.topLevelItemCount() == 1 and lineage.topLevelItem(0).child(0).text(0) == "tiny copy"
    child = table.rows[1].id
    assert table.setData(table.index(1, 0), "phone build", Qt.ItemDataRole.EditRole)
    assert Project.open(tiny_project.root).variant(child).name == "phone build"
    window.undo_stack.undo()
    assert Project.open(tiny_project.root).variant(child).name == "tiny copy"
    assert [row.name for row in window.variants_panel.model.rows] == ["tiny", "tiny copy"]
    window.undo_stack.redo()
    assert window.variants_panel.model.rows[1].name == "phone build"


def test_deleting_a_parent_is_refused_and_explained(qtbot, window, tiny_project: Project) -> None:
    window.set_project(tiny_project)
    parent = window.variants_panel.model.rows[0].id
    with qtbot.waitSignal(window.problem_shown) as shown:
        window.projects.delete_variant(parent)
    assert "delete those first" in shown.args[0]
    child = window.variants_panel.model.rows[1].id
    window.projects.delete_variant(child)
    assert [row.name for row in window.variants_panel.model.rows] == ["tiny"]


def test_rebenchmark_measures_latency_and_peak_memory(qtbot, window, tiny_project: Project) -> None:
    window.set_project(tiny_project)
    variant = window.variants_panel.model.rows[1].id
    window.variants_panel.select(variant)
    assert window.variants_panel.buttons["Re-benchmark"].isEnabled()
    with qtbot.waitSignal(window.variants_changed, timeout=120_000):
        window.variants_panel.buttons["Re-benchmark"].click()
    row = window.variants_panel.model.rows[1]
    assert row.latency_ms is not None and row.latency_ms > 0 and row.latency_p90_ms >= row.latency_ms
    assert row.memory_mb is not None and row.memory_mb > 50  # a process with torch loaded
    assert row.latency_ratio is None  # never timed in turn with its original: no ratio is made up


def test_projects_are_remembered_saved_as_and_reopened(qtbot, window, tiny_project: Project, tmp_path) -> None:
    window.set_project(tiny_project)
    assert QSettings().value("project/last") == str(tiny_project.root)
    copy = tmp_path / "copy"
    window.projects.save_project_as(str(copy))
    assert window.state.project is not None and window.state.project.root == copy
    assert [v.name for v in window.state.project.variants] == ["tiny", "tiny copy"]
    recent = [action.text() for action in window.projects.recent_menu.actions()]
    assert recent[:2] == [str(copy), str(tiny_project.root)]
    with qtbot.waitSignal(window.problem_shown) as shown:
        window.projects.open_project(str(tmp_path / "nowhere"))
    assert "not a studio project" in shown.args[0]
    assert window.state.project.root == copy


def test_graph_view_serves_netron_locally_and_shows_it(qtbot, window, tiny_project: Project) -> None:
    window.set_project(tiny_project)
    variant = window.variants_panel.model.rows[0].id
    with qtbot.waitSignal(window.graph_shown, timeout=120_000) as shown:
        window.graphs.show_variant_graph(variant)
    url = shown.args[0]
    assert url.startswith("http://127.0.0.1:") and window.graph_panel.url.text() == url
    assert window.tabs.currentWidget() is window.graph_panel
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as page:  # the copyable fallback address works
        assert b"netron" in page.read().lower()
    assert (tiny_project.root / "graphs" / variant).is_dir()


def test_sensitivity_chart_and_applying_its_suggestion(qtbot, ready_data) -> None:
    window = ready_data
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_zoo(ZooChoice("mobilenet_v3_small", resolution=96, pretrained=True))
    panel = window.compress_panel
    panel.advanced.setChecked(True)
    panel.prune.setChecked(True)
    panel.quantize.setChecked(False)
    box = panel.sensitivity
    with qtbot.waitSignal(window.runner.job_started) as started:
        box.analyze_button.click()
    with qtbot.waitSignal(started.args[0].finished, timeout=600_000):
        pass
    report = box.report
    assert report is not None and report.of("prune") and not report.of("quantize")
    (bars,) = [item for item in box.chart.getPlotItem().items if isinstance(item, pg.BarGraphItem)]
    assert len(bars.opts["height"]) == len({probe.layer for probe in report.of("prune")})
    assert box.apply_button.isEnabled() and "layers probed on 64 images" in box.note.text()
    before = window.state.recipe
    box.target.setValue(80)
    with qtbot.waitSignal(window.runner.job_started) as started:
        box.apply_button.click()
    with qtbot.waitSignal(started.args[0].finished, timeout=600_000):
        pass
    (prune,) = window.state.recipe.steps
    assert isinstance(prune, PruneStep) and prune.layer_ratios and prune.ratio == 0.0
    assert panel.prune.overrides.rowCount() == len(prune.layer_ratios)
    window.undo_stack.undo()
    assert window.state.recipe == before


def test_deployment_view_measures_fps_at_each_resolution(qtbot, window, tiny_project: Project) -> None:
    window.set_project(tiny_project)
    window.variants_panel.select(window.variants_panel.model.rows[0].id)
    deployment = window.compare_panel.deployment
    window.tabs.setCurrentWidget(window.compare_panel)
    assert "Not measured yet" in deployment.chart.message.text() and deployment.measure.isEnabled()
    with qtbot.waitSignal(window.variants_changed, timeout=300_000):
        deployment.measure.click()
    text = deployment.verdict.text()
    assert all(f"{size} px" in text for size in (128, 160, 192, 224)) and "FPS" in text
    deployment.target.setValue(1000)  # the spin box's top: no MobileNet reaches it on one CPU thread
    deployment.target.editingFinished.emit()
    assert "misses by" in deployment.verdict.text()


def test_a_variant_becomes_the_current_model_through_its_project(qtbot, window, tiny_project: Project) -> None:
    window.set_project(tiny_project)
    child = window.variants_panel.model.rows[1].id
    window.variants_panel.select(child)
    with qtbot.waitSignal(window.model_loaded, timeout=60_000) as loaded:
        window.variants_panel.buttons["Use as model"].click()
    assert loaded.args[0].model.card.spec == TINY and window.state.model_variant == child


def test_a_users_model_takes_the_open_folders_class_names_and_undo_keeps_its_own(window, qtbot, tmp_path) -> None:
    import torch

    from core.zoo.registry import ModelSpec
    from tests.helpers import write_image

    checkpoint = tmp_path / "my_model.pth"
    torch.save(ModelSpec("mobilenet_v3_small", resolution=64, num_classes=2).build().state_dict(), checkpoint)
    for label, folder in enumerate(("n01440764", "n02102040")):
        write_image(tmp_path / "photos" / folder / "a.png", seed=label)
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_file(checkpoint)
    window.set_data_folder("evaluation", str(tmp_path / "photos"))
    qtbot.waitUntil(lambda: window.state.report.model.card.class_names == ("tench", "English springer"),
                    timeout=30_000)
    assert "Class names taken from the 2 class folders" in window.statusBar().currentMessage()
    window.undo_stack.undo()
    assert window.state.report.model.card.class_names == ("class 0", "class 1")


def test_the_model_tab_sets_preprocessing_and_edits_imports_or_takes_names_undoably(window, qtbot, tmp_path) -> None:
    import torch

    from core.model import Normalization
    from core.zoo.registry import ModelSpec
    from tests.helpers import write_image

    checkpoint = tmp_path / "my_model.pth"
    torch.save(ModelSpec("mobilenet_v3_small", resolution=64, num_classes=2).build().state_dict(), checkpoint)
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_file(checkpoint)
    panel, card = window.model_settings, lambda: window.state.report.model.card
    assert panel.isEnabled() and panel.names.count() == 2 and "2 classes" in panel.names_summary.text()
    panel.normalization.setCurrentIndex(panel.normalization.findData(Normalization.KERAS))
    panel.normalization.activated.emit(panel.normalization.currentIndex())
    assert card().mean == (0.5, 0.5, 0.5) and "[−1, 1] (Keras/TF)" in window.view.card.text(), "what is measured"
    panel.names.item(1).setText("springer")  # edited in place
    assert card().class_names == ("class 0", "springer")
    panel.names.item(0).setText("  ")  # a class needs a name
    assert card().class_names == ("class 0", "springer") and panel.names.item(0).text() == "class 0"
    wrong = tmp_path / "three.txt"
    wrong.write_text("a\nb\nc\n")
    window.settings_actions.ask_labels_file = lambda: str(wrong)  # as if chosen in the file dialog
    with qtbot.waitSignal(window.problem_shown) as problem:
        window.settings_actions.import_names()
    assert "names 3 classes but the model predicts 2" in problem.args[0] and card().class_names[1] == "springer"
    for label, folder in enumerate(("n01440764", "n02102040")):
        write_image(tmp_path / "photos" / folder / "a.png", seed=label)
    window.set_data_folder("evaluation", str(tmp_path / "photos"))
    qtbot.waitUntil(lambda: window.state.datasets["evaluation"].root == tmp_path / "photos", timeout=30_000)
    window.settings_actions.names_from_folder()
    assert card().class_names == ("tench", "English springer")
    assert [panel.names.item(i).text() for i in range(2)] == ["tench", "English springer"], "the panel follows"
    for _ in range(4):  # the names from the folder, choosing the folder, the edited name, the scaling
        window.undo_stack.undo()
    assert card().class_names == ("class 0", "class 1") and card().mean != (0.5, 0.5, 0.5)


def test_a_pickled_model_opens_after_the_user_trusts_it_and_not_before(window, qtbot, tmp_path, monkeypatch) -> None:
    import torch

    from core.zoo.registry import ModelSpec

    path = tmp_path / "whole_model.pt"
    torch.save(ModelSpec("mobilenet_v3_small", resolution=96, num_classes=4).build(), path)
    asked: list[str] = []
    monkeypatch.setattr(window.loading, "confirm_trust", lambda name, reason: asked.append(reason) or False)
    job = window.load_file(path)
    qtbot.waitUntil(lambda: not job.running, timeout=60_000)
    assert asked and "holds code" in asked[0] and window.state.report is None
    assert "not trusted" in window.state.error
    monkeypatch.setattr(window.loading, "confirm_trust", lambda name, reason: True)
    with qtbot.waitSignal(window.model_loaded, timeout=60_000):
        window.load_file(path)
    card = window.state.report.model.card
    assert card.num_classes == 4 and card.spec is not None, "rebuilt as its zoo architecture, storable as weights"
