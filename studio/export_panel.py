"""Export tab: formats or a phone bundle, the output folder, and the verification report of the last export."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.export.bundle import AppBundle
from core.export.checks import folder_problem
from core.export.registry import FORMATS
from core.export.report import ExportReport, ExportResult
from core.metrics.accuracy_text import points_text, top1_text
from studio.state import StudioState

REPORT_COLUMNS = ("Format", "Verified", "Agreement", "Max |Δ|", "Cosine", "Top-1", "Latency ms", "Size MB", "File")
DEFAULT_FORMATS = ("onnx", "tflite")
BUNDLES = (
    (None, "No bundle", "Just the model files"),
    (AppBundle.ANDROID, "Android bundle", "A zip with the .tflite model, labels and preprocessing (adds TFLite)"),
    (AppBundle.IOS, "iOS bundle", "A zip with the Core ML package, labels and preprocessing (adds Core ML)"),
)
LAYOUTS = (
    ("Pixel by pixel (NHWC)", True, "Each pixel's red, green and blue side by side, as Android bitmaps hold them: "
     "the channels-last layout (NHWC). Recommended."),
    ("Colour by colour (NCHW)", False, "All the red values, then all the green, then all the blue, as PyTorch "
     "holds images: the channels-first layout (NCHW). The model then starts with a transpose."),
)


def _cell(value: object, fmt: str = "") -> str:
    return "–" if value is None else format(value, fmt) if fmt else str(value)


def _top1(check: dict[str, Any]) -> str:
    """Top-1 in the studio's one wording ("80.4 % (±3.5, 500 images)") when the report gives its 95 % interval and
    image count (a report without the interval keeps the bare value, since "±" needs the interval), then the file's
    paired difference from the source on the same images: the figure that says what the conversion cost."""
    top1, ci95, n = check.get("top1"), check.get("top1_ci95"), check.get("n")
    text = top1_text(top1, (ci95[0], ci95[1]), n) if top1 is not None and ci95 and n else _cell(top1, ".2f")
    delta, delta_ci = check.get("delta_top1_source"), check.get("delta_top1_source_ci95")
    if delta is None or not delta_ci:
        return text
    return f"{text}; {points_text(delta, (delta_ci[0], delta_ci[1]))} against the source, same images"


def _verdict(result: ExportResult) -> str:
    check = result.verification
    return "yes" if result.verified else check.get("reason") or check.get("error") or "no"


class ExportPanel(QWidget):
    # format names, bundle or None, output folder, TFLite choices for ExportOptions (nhwc, int8_io)
    export_requested = Signal(list, object, str, dict)
    bundle_chosen = Signal(object)  # an AppBundle, or None: where the user is heading

    def __init__(self) -> None:
        super().__init__()
        self.source = QLabel("Select a variant in the Variants tab, or export the current model.")
        self.source.setWordWrap(True)
        formats = QGroupBox("Formats")
        format_row = QHBoxLayout(formats)
        self.formats: dict[str, QCheckBox] = {}
        for fmt in FORMATS.values():
            box = QCheckBox(fmt.title)
            box.setToolTip(f"{fmt.supports}. Verified with {fmt.runtime}.")
            box.setChecked(fmt.name in DEFAULT_FORMATS)
            self.formats[fmt.name] = box
            format_row.addWidget(box)
        bundles = QGroupBox("App bundle")
        bundle_layout = QVBoxLayout(bundles)
        bundle_row = QHBoxLayout()
        self.bundle = QButtonGroup(self)
        for index, (name, text, tip) in enumerate(BUNDLES):
            button = QRadioButton(text)
            button.setToolTip(tip)
            button.setProperty("bundle", name or "")
            button.setChecked(index == 0)
            self.bundle.addButton(button, index)
            bundle_row.addWidget(button)
        bundle_row.addStretch(1)
        bundle_layout.addLayout(bundle_row)
        bundle_layout.addLayout(self._android_choices())
        self.bundle.idToggled.connect(lambda _id, _on: self._enable_android_choices())
        self.bundle.idToggled.connect(self._on_bundle_toggled)
        self._enable_android_choices()

        self.folder = QLineEdit()
        self.folder.setToolTip("Where the files and the verification report are written")
        self.folder.setPlaceholderText("the project's exports folder (the project is made at the first export)")
        self.folder.textChanged.connect(self._check_folder)
        self.folder_problem = QLabel()
        self.folder_problem.setObjectName("banner")
        self.folder_problem.setProperty("kind", "error")
        self.folder_problem.setWordWrap(True)
        self.folder_problem.hide()
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose the output folder on this computer")
        browse.clicked.connect(self._ask_folder)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.setToolTip("Convert, then check every file against the source model on real images")
        folder_row = QHBoxLayout()
        folder_row.addWidget(QLabel("Output folder"))
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        folder_row.addWidget(self.export_button)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.report_table = QTableWidget(0, len(REPORT_COLUMNS))
        self.report_table.setToolTip("Every file of the last export and its check against the source model: how "
                                     "often their answers agree, the largest difference in scores (max |Δ|), "
                                     "accuracy, speed and size; an app bundle's zip and path")
        self.report_table.setHorizontalHeaderLabels(list(REPORT_COLUMNS))
        self.report_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.report_table.horizontalHeader().setStretchLastSection(True)
        self.report_table.verticalHeader().hide()
        self.details = QToolButton()
        self.details.setText("Details")
        self.details.setCheckable(True)
        self.details.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details.setArrowType(Qt.ArrowType.RightArrow)
        self.details.setToolTip("How each file was made: the converters' own notes (exporter and re-quantization "
                                "details)")
        self.details.setWhatsThis(
            "Shows what each converter reported while it worked: which exporter wrote the file, how an int8 model "
            "was re-quantized from its float parent (observer, calibration images, activation ranges), deprecation "
            "warnings. The verdict above and the table do not depend on them."
        )
        self.details.toggled.connect(self._show_details)
        self.details.hide()
        self.notes = QTextBrowser()
        self.notes.setMaximumHeight(140)
        self.notes.hide()
        self.location = QLineEdit()
        self.location.setReadOnly(True)
        self.location.setToolTip("Where the last export was written; select it to copy the path")
        self.open_folder = QPushButton("Open output folder")
        self.open_folder.setToolTip("Show the exported files in the file manager")
        self.open_folder.setEnabled(False)
        self.open_folder.clicked.connect(self._open_folder)
        location_row = QHBoxLayout()
        location_row.addWidget(self.location, 1)
        location_row.addWidget(self.open_folder)

        layout = QVBoxLayout(self)
        layout.addWidget(self.source)
        layout.addWidget(formats)
        layout.addWidget(bundles)
        layout.addLayout(folder_row)
        layout.addWidget(self.folder_problem)
        layout.addWidget(self.summary)
        layout.addWidget(self.report_table, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.notes)
        layout.addLayout(location_row)
        self.export_button.clicked.connect(self.request_export)

    def follow(self, state: StudioState) -> None:
        """Redraw from `state` now and whenever the model, the selection or the project change: what is exported,
        into which folder, and (for another model) no longer the last model's report."""
        self._state = state
        state.changed.connect(self._state_changed)
        self._state_changed(frozenset({"project", "report"}))

    def _state_changed(self, names: frozenset[str]) -> None:
        state = self._state
        if "project" in names and state.project is not None:
            self.folder.setText(str(state.project.root / "exports"))
        if "model" in names:
            self.forget_report()
        if names & {"report", "project", "revision", "selected_variant"}:
            variant, _, row = state.selection()
            if variant is not None:
                self.show_source(variant.name, row.speed_headline() if row is not None else "")
            elif state.report is not None:
                self.source.setText(f"Current model: {escape(state.report.model.card.title)}. Select a variant in "
                                    "the Variants tab to export it instead.")

    def show_source(self, name: str, speed: str) -> None:
        """What is exported: the variant's name, then its speed in LiteRT on this computer (the headline figure)."""
        self.source.setText(f"Exporting variant <b>{escape(name)}</b>." + (f"<br>{escape(speed)}" if speed else ""))

    def _android_choices(self) -> QHBoxLayout:
        """How the Android bundle's model takes its image: the layout and whether its input and output are int8."""
        self.layout_label = QLabel("Android input")
        self.layout_choice = QComboBox()
        for text, nhwc, tip in LAYOUTS:
            self.layout_choice.addItem(text, nhwc)
            self.layout_choice.setItemData(self.layout_choice.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.layout_choice.setToolTip("The order in which the model takes the image's numbers: pixel by pixel "
                                      "(NHWC, as Android bitmaps) or colour by colour (NCHW, as PyTorch)")
        self.layout_choice.setWhatsThis(
            "The memory layout of the model's input. Android hands out images pixel by pixel (red, green, blue of "
            "one pixel, then the next): channels last, NHWC. PyTorch models take all of one colour first: channels "
            "first, NCHW. Pick the one your app's code fills; the bundle's Classifier.kt fills the one chosen."
        )
        self.int8_io = QCheckBox("8-bit input and output (int8 I/O)")
        self.int8_io.setToolTip("int8 models only: the app passes 8-bit numbers in and reads 8-bit numbers out "
                                "(int8 I/O) instead of ordinary decimals (float32)")
        self.int8_io.setWhatsThis(
            "An int8 model computes in 8-bit numbers either way. Off (recommended), it takes and returns ordinary "
            "decimal numbers (float32) and converts at its edges itself, so app code is the same as for a float "
            "model. On, the app converts: q = round(x / scale) + zero point in, (q - zero point) × scale out; "
            "metadata.json and Classifier.kt give the numbers. Float models ignore it."
        )
        row = QHBoxLayout()
        row.addWidget(self.layout_label)
        row.addWidget(self.layout_choice)
        row.addWidget(self.int8_io)
        row.addStretch(1)
        return row

    def _enable_android_choices(self) -> None:
        android = self.chosen_bundle() is AppBundle.ANDROID
        for widget in (self.layout_label, self.layout_choice, self.int8_io):
            widget.setEnabled(android)

    def chosen_formats(self) -> list[str]:
        return [name for name, box in self.formats.items() if box.isChecked()]

    def choose_bundle(self, kind: AppBundle | None) -> None:
        """Choose the app bundle `kind` (None: no bundle): the bundle adds the one format it holds, so no other
        format stays ticked."""
        button = next(b for b in self.bundle.buttons() if AppBundle.named(b.property("bundle")) is kind)
        button.setChecked(True)
        for box in self.formats.values():
            box.setChecked(False)

    def _on_bundle_toggled(self, _id: int, on: bool) -> None:
        if on:
            self.bundle_chosen.emit(self.chosen_bundle())

    def chosen_bundle(self) -> AppBundle | None:
        button = self.bundle.checkedButton()
        return AppBundle.named(button.property("bundle")) if button is not None else None

    def chosen_tflite(self) -> dict[str, bool]:
        """The Android bundle's TFLite choices; none without it (a plain .tflite keeps its defaults)."""
        if self.chosen_bundle() is not AppBundle.ANDROID:
            return {}
        return {"nhwc": bool(self.layout_choice.currentData()), "int8_io": self.int8_io.isChecked()}

    def request_export(self) -> None:
        """Export what is chosen, as the Export button does (nothing while the folder cannot be written)."""
        if self.export_button.isEnabled():
            self.export_requested.emit(self.chosen_formats(), self.chosen_bundle(), self.folder.text().strip(),
                                       self.chosen_tflite())

    def _check_folder(self, text: str) -> None:
        """Say what is wrong with the folder as it is typed; an empty one means the project's exports folder."""
        problem = folder_problem(Path(text.strip()).expanduser()) if text.strip() else None
        self.folder_problem.setText(f"{problem}." if problem else "")
        self.folder_problem.setVisible(problem is not None)
        self.export_button.setEnabled(problem is None)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _open_folder(self) -> None:
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(self.location.text())):
            self.summary.setText(self.summary.text() + "<br>No file manager could be opened: the folder's path "
                                 "is above, ready to copy.")

    def _show_details(self, shown: bool) -> None:
        self.details.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.notes.setVisible(shown)

    def forget_report(self) -> None:
        """Another model is current: the last export's report, which listed the other model's files, goes."""
        self.summary.setText("")
        self.report_table.setRowCount(0)
        self.notes.clear()

    def show_report(self, report: ExportReport, out_dir: Path) -> None:
        results = report.results
        verified = sum(result.verified for result in results)
        images = report.verification_images
        lines = [f"<b>{verified} of {len(results)} files verified</b> on {images.get('n', 0)} images from "
                 f"{escape(str(images.get('dataset', '-')))}: each file's answers against the source model's, in its "
                 "own runtime."]
        if "source_top1" in images:  # the figure each file's top-1 is paired with
            lines.append(f"The source model scores {images['source_top1']:.1f} % top-1 on these images in PyTorch; "
                         "each file's top-1 below is paired with it.")
        names = report.source.get("class_names") or []
        if names:  # a wrong label set is visible before shipping
            lines.append(escape(f"{len(names)} class names, in output order: {', '.join(names[:5])}"
                                + (", …" if len(names) > 5 else "")))
        lines += [escape(f"{FORMATS[r.format].title}: {r.reuse_note}.") for r in results if r.reuse_note]
        self.summary.setText("<br>".join(lines))
        rows = [self._format_row(result) for result in results]
        rows += [self._bundle_row(path, results) for path in report.bundles]
        self.report_table.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.report_table.setItem(row, column, item)
        notes = sorted({note for result in results for note in result.notes})
        self.notes.setPlainText("\n".join(notes))
        self.details.setVisible(bool(notes))
        self.notes.setVisible(bool(notes) and self.details.isChecked())
        self.location.setText(str(out_dir))
        self.open_folder.setEnabled(True)

    @staticmethod
    def _format_row(result: ExportResult) -> tuple[str, ...]:
        check = result.verification
        return (
            FORMATS[result.format].title, _verdict(result), _cell(check.get("agreement_top1"), ".1f"),
            _cell(check.get("max_abs_diff"), ".2g"), _cell(check.get("cosine"), ".4f"), _top1(check),
            _cell(check.get("latency_ms"), ".1f"), _cell(result.size_bytes / 1e6, ".2f"), result.path,
        )

    @staticmethod
    def _bundle_row(path: str, results: list[ExportResult]) -> tuple[str, ...]:
        """A bundle's row: verified as the model it holds is; its size is the zip's."""
        kind = AppBundle.of_path(path)
        model = next(r for r in results if r.format == kind.format_name)
        size = Path(path).stat().st_size / 1e6 if Path(path).is_file() else None
        return (f"{kind.label} bundle", _verdict(model), *["–"] * 5, _cell(size, ".2f"), path)

    def note_bundle_skipped(self, text: str) -> None:
        self.summary.setText(f"{self.summary.text()}<br><b>{escape(text)}</b>")
