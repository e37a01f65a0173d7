"""Measuring stored variants again: accuracy, latency and memory of one variant, FPS at every input size, and
"Re-measure all" (every variant against its original in one interleaved session, in the chosen runtime).

Each is a core job run by the window's runner; the project holds the numbers and the views are redrawn from it.
"""

from __future__ import annotations

from typing import Any

from core.compress.pipeline import remeasure
from core.data.roles import DataRole
from core.remeasure import Remeasured, remeasure_all
from studio.host import Collaborator, ProjectUse
from studio.workers import Job

DEPLOYMENT_RESOLUTIONS = (128, 160, 192, 224)


class MeasureActions(Collaborator):
    def _remeasure(self, title: str, variant_id: str, **what: Any) -> Job:
        host = self.host
        project = host.ensure_project()
        return host.start_job(
            f"{title} {project.variant(variant_id).name}",
            remeasure,
            project,
            variant_id,
            threads=host.threads,
            on_success=lambda _: host.state.variants_changed(),
            use=ProjectUse(project, frozenset({variant_id})),
            **what,
        )

    def reevaluate(self, variant_id: str) -> Job | None:
        evaluation = self.host.state.evaluation()
        if evaluation is None or not evaluation.labeled:
            self.host.show_problem("Re-evaluating needs labelled evaluation images: choose them in the Data tab.")
            return None
        return self._remeasure("Evaluating", variant_id, evaluation=evaluation)

    def rebenchmark(self, variant_id: str) -> Job:
        return self._remeasure("Benchmarking", variant_id, latency_runs=30, memory=True)

    def remeasure_all(self) -> Job | None:
        """Every variant against its original in the chosen runtime, and on the evaluation images if labelled."""
        host = self.host
        project = host.state.project
        if project is None or not any(v.parent for v in project.variants):
            host.show_problem("Nothing to re-measure yet: compress a model first, then compare its variants.")
            return None
        evaluation = host.state.evaluation()
        return host.start_job(
            f"Re-measuring all variants of {project.name} in {host.state.latency_runtime}",
            remeasure_all,
            project,
            runtimes=(host.state.latency_runtime,),
            evaluation=evaluation if evaluation is not None and evaluation.labeled else None,
            calib=host.state.dataset(DataRole.CALIB),
            threads=host.threads,
            on_success=self._remeasured,
            use=ProjectUse(project, frozenset(v.id for v in project.variants)),
        )

    def _remeasured(self, result: Remeasured) -> None:
        self.host.state.variants_changed()
        if result.skipped:
            self.host.show_problem("Some variants could not be re-measured:\n" + "\n".join(result.skipped),
                                     title="Re-measured, with gaps")

    def measure_deployment(self, variant_id: str) -> Job:
        return self._remeasure("Measuring FPS of", variant_id, resolutions=DEPLOYMENT_RESOLUTIONS, latency_runs=20)
