"""Export tab: formats or a phone bundle, the output folder, and the verification report of the last export."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
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
    QVBoxLayout,
    QWidget,
)

from core.export.registry import FORMATS
from core.export.report import ExportReport

REPORT_COLUMNS = ("Format", "Verified", "Agreement", "Max |Δ|", "Cosine", "Top-1", "Latency ms", "Size MB", "File")
DEFAULT_FORMATS = ("onnx", "tflite")


def _cell(value: object, fmt: str = "") -> str:
    return "–" if value is None else format(value, fmt) if fmt else str(value)


class ExportPanel(QWidget):
    export_requested = Signal(list, object, str)  # format names, bundle or None, output folder

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
        bundle_row = QHBoxLayout(bundles)
        self.bundle = QButtonGroup(self)
        for index, (name, text, tip) in enumerate((
            ("", "No bundle", "Just the model files"),
            ("android", "Android bundle", "A zip with the .tflite model, labels and preprocessing (adds TFLite)"),
            ("ios", "iOS bundle", "A zip with the Core ML package, labels and preprocessing (adds Core ML)"),
        )):  # fmt: skip
            button = QRadioButton(text)
            button.setToolTip(tip)
            button.setProperty("bundle", name)
            button.setChecked(index == 0)
            self.bundle.addButton(button, index)
            bundle_row.addWidget(button)
        self.folder = QLineEdit()
        self.folder.setToolTip("Where the files and the verification report are written")
        browse = QPushButton("Browse…")
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
        self.report_table.setHorizontalHeaderLabels(list(REPORT_COLUMNS))
        self.report_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.report_table.horizontalHeader().setStretchLastSection(True)
        self.report_table.verticalHeader().hide()
        self.notes = QTextBrowser()
        self.notes.setMaximumHeight(140)
        self.location = QLineEdit()
        self.location.setReadOnly(True)
        self.open_folder = QPushButton("Open output folder")
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
        layout.addWidget(self.summary)
        layout.addWidget(self.report_table, 1)
        layout.addWidget(self.notes)
        layout.addLayout(location_row)
        self.export_button.clicked.connect(self._request)

    def chosen_formats(self) -> list[str]:
        return [name for name, box in self.formats.items() if box.isChecked()]

    def chosen_bundle(self) -> str | None:
        return self.bundle.checkedButton().property("bundle") or None

    def _request(self) -> None:
        self.export_requested.emit(self.chosen_formats(), self.chosen_bundle(), self.folder.text().strip())

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _open_folder(self) -> None:
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(self.location.text())):
            self.summary.setText(self.summary.text() + "<br>No file manager could be opened: the folder's path "
                                 "is above, ready to copy.")  # fmt: skip

    def show_report(self, report: ExportReport, out_dir: Path) -> None:
        results = report.results
        verified = sum(result.verified for result in results)
        images = report.verification_images
        self.summary.setText(
            f"<b>{verified} of {len(results)} files verified</b> on {images.get('n', 0)} images from "
            f"{images.get('dataset', '-')}: each file's answers against the source model's, in its own runtime."
        )
        self.report_table.setRowCount(len(results))
        for row, result in enumerate(results):
            check = result.verification
            cells = (
                FORMATS[result.format].title, "yes" if result.verified else check.get("reason") or check.get("error")
                or "no", _cell(check.get("agreement_top1"), ".1f"), _cell(check.get("max_abs_diff"), ".2g"),
                _cell(check.get("cosine"), ".4f"), _cell(check.get("top1"), ".2f"),
                _cell(check.get("latency_ms"), ".1f"), _cell(result.size_bytes / 1e6, ".2f"),
                result.path,
            )  # fmt: skip
            for column, text in enumerate(cells):
                item = QTableWidgetItem(str(text))
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.report_table.setItem(row, column, item)
        notes = sorted({note for result in results for note in result.notes} | set(report.bundles))
        self.notes.setPlainText("\n".join(notes))
        self.location.setText(str(out_dir))
        self.open_folder.setEnabled(True)

    def note_bundle_skipped(self, text: str) -> None:
        self.summary.setText(f"{self.summary.text()}<br><b>{escape(text)}</b>")
