"""Graph tab: netron inside the window (Qt WebEngine) for any variant or model file, with a copyable URL.

netron runs its small HTTP server in this process on 127.0.0.1. Three things make its page work
offline in an embedded browser (see ../shared/NOTES.md): the consent cookie is set beforehand, the
page's clock is pinned near netron's release (it refuses to run ~180 days after it), and every
request that leaves 127.0.0.1 (analytics) is blocked.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

from PySide6.QtCore import QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget

# netron adds the "default" class to its page once the graph is drawn; its splash shows until then.
DRAWN_SCRIPT = "document.body ? document.body.classList.contains('default') : false"
DRAWN_POLL_MS = 250
GRAPH_FILE_FILTER = "Model graphs (*.onnx *.tflite *.pt *.pt2 *.pte *.pth *.mlpackage);;All files (*)"


def prepare_web_engine() -> bool:
    """Call before the QApplication exists. False when Qt WebEngine cannot load on this machine."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")  # Chromium's sandbox refuses root
    try:
        import PySide6.QtWebEngineWidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _netron_release_ms() -> int:
    import netron

    page = (Path(netron.__file__).parent / "index.html").read_text(errors="replace")
    found = re.search(r'name="date" content="([0-9-]+)', page)
    day = time.strptime(found.group(1), "%Y-%m-%d") if found else time.localtime()
    return int(time.mktime(day) * 1000) + 86_400_000


class NetronServer:
    """One netron server at a time, on a free local port."""

    def __init__(self) -> None:
        self.address: tuple[str, int] | None = None

    def serve(self, path: Path) -> str:
        import netron

        self.stop()
        self.address = netron.start(str(path), address=("127.0.0.1", _free_port()), browse=False)
        host, port = self.address
        return f"http://{host}:{port}/"

    def stop(self) -> None:
        if self.address is not None:
            import netron

            netron.stop(self.address)
            deadline = time.monotonic() + 2.0  # its loop notices the stop within 0.25 s
            while netron.status(self.address) and time.monotonic() < deadline:
                time.sleep(0.02)
            self.address = None


def _make_browser() -> QWidget | None:
    try:
        from PySide6.QtNetwork import QNetworkCookie
        from PySide6.QtWebEngineCore import (
            QWebEngineProfile,
            QWebEngineScript,
            QWebEngineUrlRequestInfo,
            QWebEngineUrlRequestInterceptor,
        )
        from PySide6.QtWebEngineWidgets import QWebEngineView
    except ImportError:
        return None

    class LocalOnly(QWebEngineUrlRequestInterceptor):
        def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:
            url = info.requestUrl()
            if url.scheme() in ("http", "https", "ws", "wss") and url.host() not in ("127.0.0.1", "localhost"):
                info.block(True)

    view = QWebEngineView()
    profile: QWebEngineProfile = view.page().profile()
    interceptor = LocalOnly(view)
    profile.setUrlRequestInterceptor(interceptor)
    cookie = QNetworkCookie(b"consent", str(int(time.time() * 1000)).encode())
    cookie.setDomain("127.0.0.1")
    cookie.setPath("/")
    profile.cookieStore().setCookie(cookie, QUrl("http://127.0.0.1/"))
    clock = QWebEngineScript()
    clock.setName("pin-netron-clock")
    clock.setInjectionPoint(QWebEngineScript.InjectionPoint.DocumentCreation)
    clock.setWorldId(QWebEngineScript.ScriptWorldId.MainWorld)
    clock.setSourceCode(
        f"(() => {{ const Real = Date; const now = {_netron_release_ms()};"
        " class Pinned extends Real { constructor(...a) { super(...(a.length ? a : [now])); }"
        " static now() { return now; } } window.Date = Pinned; })();"
    )
    view.page().scripts().insert(clock)
    return view


class GraphPanel(QWidget):
    variant_graph_requested = Signal()  # the variant selected in the Variants tab
    model_graph_requested = Signal()  # the current model
    file_graph_requested = Signal()
    graph_drawn = Signal()  # netron finished drawing the graph it was given

    def __init__(self) -> None:
        super().__init__()
        self.server = NetronServer()
        self.browser: QWidget | None = None
        self.title = QLabel("Choose what to show: the current model, the selected variant, or a file.")
        self.title.setWordWrap(True)
        self.url = QLineEdit()
        self.url.setReadOnly(True)
        self.url.setPlaceholderText("netron's local address appears here")
        self.url.setToolTip("Open this address in any browser on this computer to see the same graph")
        self.copy = QPushButton("Copy URL")
        self.copy.setToolTip("Copy the graph's address to the clipboard, to open it in a browser")
        self.copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.url.text()))
        buttons = QHBoxLayout()
        for text, signal, tip in (
            ("Current model", self.model_graph_requested, "Draw the loaded model's graph (layers and connections)"),
            ("Selected variant", self.variant_graph_requested, "Draw the graph of the variant selected in the "
             "Variants tab"),
            ("Open a file…", self.file_graph_requested, "Draw the graph of any model file (.onnx, .tflite, .pt2, …)"),
        ):
            button = QPushButton(text)
            button.setToolTip(f"{tip}, with netron")
            button.clicked.connect(signal)
            buttons.addWidget(button)
        buttons.addStretch(1)
        url_row = QHBoxLayout()
        url_row.addWidget(self.url, 1)
        url_row.addWidget(self.copy)
        self.loading = QProgressBar()
        self.loading.setRange(0, 0)  # busy: netron tells nothing between its page and its drawing
        self.loading.setFormat("")
        self.loading.setToolTip("netron, the graph viewer, is starting and drawing the graph")
        self.loading_text = QLabel("Loading the graph viewer (netron)… the first time takes 20–40 s here.")
        self.loading_row = QWidget()
        loading_layout = QHBoxLayout(self.loading_row)
        loading_layout.addWidget(self.loading_text)
        loading_layout.addWidget(self.loading, 1)
        self.loading_row.hide()
        self._poll = QTimer(self)
        self._poll.setInterval(DRAWN_POLL_MS)
        self._poll.timeout.connect(self._check_drawn)
        self.body = QVBoxLayout()
        self.body.addWidget(self.loading_row)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.title)
        layout.addLayout(self.body, 1)
        layout.addLayout(url_row)

    def show_file(self, path: Path, title: str) -> str:
        url = self.server.serve(path)
        self.url.setText(url)
        if self.browser is None:
            self.browser = _make_browser()  # created on first use: Chromium starts only when needed
            if self.browser is not None:
                self.body.addWidget(self.browser, 1)
        if self.browser is None:
            self.title.setText(f"{title}: the embedded viewer is unavailable here; open the address below.")
        else:
            self.title.setText(f"{title} — {path.name}")
            self.browser.setUrl(QUrl(url))  # type: ignore[attr-defined]
            self.loading_row.show()
            self._poll.start()
        return url

    def _check_drawn(self) -> None:
        if self.browser is not None:
            self.browser.page().runJavaScript(DRAWN_SCRIPT, 0, self._on_drawn_answer)  # type: ignore[attr-defined]

    def _on_drawn_answer(self, drawn: object) -> None:
        if drawn and self._poll.isActive():
            self._poll.stop()
            self.loading_row.hide()
            self.graph_drawn.emit()

    def shutdown(self) -> None:
        self._poll.stop()
        self.server.stop()
        if self.browser is not None:  # the page must go before the browser profile does at exit
            self.browser.deleteLater()
            self.browser = None
