"""Drawing graphs in the Graph tab: a variant's or the current model's (an ONNX export netron reads best, cached
in the project per variant), or any model file the user opens.

The export is a core job run by the window's runner; the Graph tab serves the file with netron.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from core.errors import StudioError
from core.export.job import ExportOptions
from core.export.registry import FORMATS
from core.export.run import export_model
from core.export.source import from_model, from_project
from studio.graph_panel import GRAPH_FILE_FILTER, GraphPanel
from studio.host import Collaborator, ProjectUse, Tab
from studio.workers import Job


class GraphActions(Collaborator):
    shown = Signal(str)  # the URL netron serves the graph at

    def __init__(self, host: QWidget, panel: GraphPanel) -> None:
        super().__init__(host)
        self.panel = panel

    def show_variant_graph(self, variant_id: str) -> Job:
        project = self.host.ensure_project()
        variant = project.variant(variant_id)
        return self._graph_job(variant.name, lambda: from_project(project.root, variant_id),
                               lambda: project.path("graphs", variant.id),
                               ProjectUse(project, frozenset({variant.id})))

    def show_model_graph(self) -> Job | None:
        host = self.host
        model = host.current_model()
        if model is None:
            return None
        project = host.ensure_project()
        return self._graph_job(model.card.title, lambda: from_model(model), lambda: project.path("graphs", "current"))

    def _graph_job(self, title: str, source: Callable[[], Any], folder: Callable[[], Path],
                   use: ProjectUse | None = None) -> Job:
        """netron reads ONNX best: the graph is an ONNX export of the model (unverified, cached per variant).
        `folder` is the project's graph folder, checked in the job (a link out of the project fails it)."""

        def run(progress: Any) -> Any:
            report = export_model(source(), [FORMATS["onnx"]], folder(), options=ExportOptions(latency_runs=0),
                                  progress=progress)
            if not report.results[0].path:
                raise StudioError(report.results[0].verification.get("error", "the ONNX graph could not be written"))
            return Path(report.results[0].path)

        return self.host.start_job(f"Drawing the graph of {title}", run,
                                     on_success=lambda path: self.show_graph_file(path, title), use=use)

    def ask_graph_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.dialog_parent, "Show a model graph", "", GRAPH_FILE_FILTER)
        if path:
            self.show_graph_file(Path(path), Path(path).name)

    def show_graph_file(self, path: Path, title: str) -> None:
        host = self.host
        url = self.panel.show_file(path, title)
        host.show_tab(Tab.GRAPH)
        self.shown.emit(url)
