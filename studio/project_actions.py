"""The open project: new, open, save-as and recent projects, and renaming and deleting its variants.

The window owns one `ProjectActions`; it changes `state.project` and the project's variants, and the views
follow the state. It also knows which variants each unfinished job reads or writes: jobs run
on the worker thread, so renaming or deleting one of those meanwhile would pull a variant from under the
job (a re-benchmark writing into a deleted folder, a child stored under a deleted parent). Such edits are
refused until the job ends. A job's result is handed to the views only while its project is still the open
one; the core has stored it in that project's folder either way.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from core.errors import StudioError
from core.paths import projects_dir
from core.project import PROJECT_FILE, Project, Variant
from studio.actions import add_action
from studio.host import Collaborator, ProjectUse
from studio.undo import Edit
from studio.workers import Job, JobState

MAX_RECENT = 8


@dataclass(frozen=True)
class _Claim:
    use: ProjectUse
    root: Path  # resolved: the same folder opened twice is one project on disk
    since: float  # time.time() at the start; what a parent-storing job stores is created after it


class ProjectActions(Collaborator):
    def __init__(self, host: QWidget) -> None:
        super().__init__(host)
        self.recent_menu = QMenu("Recent projects", host)
        self._claims: dict[Job, _Claim] = {}
        self._left_behind: dict[Job, str] = {}  # jobs whose result stayed in a project closed meanwhile

    def add_to_menu(self, menu: QMenu) -> None:
        add_action(self, menu, "&New project…", self.ask_new_project, QKeySequence.StandardKey.New,
                   "Start an empty project folder for variants")
        add_action(self, menu, "Open &project…", self.ask_open_project, "Ctrl+Shift+O")
        menu.addMenu(self.recent_menu)
        add_action(self, menu, "&Save project as…", self.ask_save_project_as, QKeySequence.StandardKey.SaveAs,
                   "Copy the project to another folder and continue there")
        self._refresh_recent()

    # Opening and saving ------------------------------------------------------------------------
    def open_remembered(self) -> None:
        last = self.host.settings.value("project/last", None)
        if last and (Path(str(last)) / PROJECT_FILE).is_file():
            try:
                self.set_project(Project.open(str(last)))
            except StudioError as exc:
                self.host.say(f"Could not reopen the last project: {exc}")

    def ensure_project(self) -> Project:
        """The open project; the first compression of a session creates one in the studio's data folder."""
        state = self.host.state
        if state.project is None:
            stamp = time.strftime("project-%Y%m%d-%H%M%S")
            root = next(projects_dir() / name for name in (stamp, *(f"{stamp}-{n}" for n in range(2, 1000)))
                        if not (projects_dir() / name).exists())  # two in one second get distinct folders
            self.set_project(Project.create(root))
        assert state.project is not None
        return state.project

    def set_project(self, project: Project) -> None:
        host, settings = self.host, self.host.settings
        with host.state.batch():
            host.state.project, host.state.selected_variant, host.state.model_variant = project, None, None
            host.state.shown_lineage = None
        host.undo_stack.clear()  # renames of another project's variants cannot be undone here
        settings.setValue("project/last", str(project.root))
        recent = [str(project.root)] + [p for p in self._recent() if p != str(project.root)]
        settings.setValue("project/recent", json.dumps(recent[:MAX_RECENT]))
        self._refresh_recent()
        if project.problems:
            host.show_problem("\n".join(project.problems), title="Some variants could not be read")

    def _recent(self) -> list[str]:
        try:
            return [str(p) for p in json.loads(str(self.host.settings.value("project/recent", "[]")))]
        except ValueError:
            return []

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self._recent():
            add_action(self.recent_menu, self.recent_menu, path, partial(self.open_project, path))
        self.recent_menu.setEnabled(bool(self._recent()))

    def open_project(self, folder: str) -> None:
        try:
            self.set_project(Project.open(folder))
        except StudioError as exc:
            self.host.show_problem(str(exc), title="Cannot open the project")

    def ask_open_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.dialog_parent, "Open a project folder", str(projects_dir()))
        if folder:
            self.open_project(folder)

    def ask_new_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.dialog_parent, "An empty folder for the new project",
                                                  str(projects_dir()))
        if folder:
            try:
                self.set_project(Project.create(folder))
            except StudioError as exc:
                self.host.show_problem(str(exc), title="Cannot create the project")

    def ask_save_project_as(self) -> None:
        folder, _ = QFileDialog.getSaveFileName(self.dialog_parent, "Save the project as (a new folder)",
                                                str(projects_dir()))
        if folder:
            self.save_project_as(folder)

    def save_project_as(self, folder: str) -> None:
        """Projects save themselves on every change; this copies one to a new folder and continues there."""
        project = self.ensure_project()
        target = Path(folder).expanduser()
        if target.exists():
            self.host.show_problem(f"{target} already exists; choose a new folder name",
                                     title="Cannot save the project")
            return
        try:
            shutil.copytree(project.root, target, ignore=shutil.ignore_patterns("checkpoints", ".incoming-*"))
        except OSError as exc:
            shutil.rmtree(target, ignore_errors=True)
            self.host.show_problem(f"Cannot copy the project to {target}: {exc.strerror or exc}",
                                     title="Cannot save the project")
            return
        self.open_project(str(target))

    # Variants ----------------------------------------------------------------------------------
    def rename_variant(self, variant_id: str, name: str) -> None:
        project = self.ensure_project()
        if self._refuse_if_in_use(project, variant_id, "rename"):
            return
        old = project.variant(variant_id).name
        if name == old:
            return

        def to(value: str) -> Callable[[], None]:
            def apply() -> None:
                # An undo or redo may come while a job uses the variant; it is skipped then. Each step
                # sets an absolute name, so the next undo or redo puts the name right again.
                if self._refuse_if_in_use(project, variant_id, "rename"):
                    return
                try:
                    project.rename(variant_id, value)
                except StudioError as exc:
                    self.host.show_problem(str(exc), title="Cannot rename")
                self.host.state.variants_changed()

            return apply

        self.host.undo_stack.push(Edit(f"Rename {old} to {name}", to(name), to(old)))

    def ask_delete_variant(self, variant_id: str) -> None:
        project = self.ensure_project()
        if self._refuse_if_in_use(project, variant_id, "delete"):
            return
        name = project.variant(variant_id).name
        answer = QMessageBox.question(self.dialog_parent, "Delete variant",
                                      f"Delete {name} and its files? This cannot be undone.")
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_variant(variant_id)

    def delete_variant(self, variant_id: str) -> None:
        project, state = self.ensure_project(), self.host.state
        if self._refuse_if_in_use(project, variant_id, "delete"):
            return
        try:
            project.delete(variant_id)
        except StudioError as exc:
            self.host.show_problem(str(exc), title="Cannot delete")
            return
        with state.batch():
            if state.selected_variant == variant_id:
                state.selected_variant = None
            if state.model_variant == variant_id:
                state.model_variant = None  # the next compression stores the current model again as its parent
            if state.shown_lineage == variant_id:
                state.shown_lineage = None
            state.variants_changed()

    # Jobs --------------------------------------------------------------------------------------
    def bind(self, job: Job, use: ProjectUse, on_success: Callable[[Any], None]) -> None:
        """Hold `use` while `job` is unfinished, and pass its result to `on_success` only while
        `use.project` is still the open project (another one's views must not show it)."""
        self._claims[job] = _Claim(use, use.project.root.resolve(), time.time())

        def finished() -> None:
            self._claims.pop(job, None)
            # A job that failed or was cancelled may still have stored something (a compression stores its
            # parent first): the views list what the project holds now.
            if job.state is not JobState.DONE and use.project is self.host.state.project:
                self.host.state.variants_changed()

        job.finished.connect(finished)

        def succeeded(result: Any) -> None:
            if use.project is self.host.state.project:
                on_success(result)
            else:
                self._left_behind[job] = use.project.name

        job.succeeded.connect(succeeded)

    def left_behind(self, job: Job) -> str:
        """The name of the closed project `job`'s result was stored in, once; '' if it was shown."""
        return self._left_behind.pop(job, "")

    def user_of(self, project: Project, variant: Variant) -> Job | None:
        """An unfinished job that reads or writes `variant` of `project`, if any."""
        root = project.root.resolve()
        for job, claim in self._claims.items():
            if claim.root == root and (
                variant.id in claim.use.variants or (claim.use.stores_parent and variant.created >= claim.since)
            ):
                return job
        return None

    def _refuse_if_in_use(self, project: Project, variant_id: str, verb: str) -> bool:
        """True (and explained) if a job uses the variant, so it must not be changed now."""
        try:
            variant = project.variant(variant_id)
        except StudioError as exc:
            self.host.show_problem(str(exc), title=f"Cannot {verb}")
            return True
        job = self.user_of(project, variant)
        if job is None:
            return False
        self.host.show_problem(f"{variant.name} is being used by the job '{job.title}'; wait for it to finish "
                                 f"or cancel it, then {verb} it", title=f"Cannot {verb}")
        return True
