"""No network use: an export and an ONNX Runtime evaluation that run long enough to start ORT's telemetry (about
20 s into a process that keeps a session) open no internet socket and ask no DNS server, traced with strace."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_image

SCRIPT = """
import time
from core.cli import main
images, out = {images!r}, {out!r}
assert main(["export", "mobilenet_v3_small:res=64", "--weights", "none", "--format", "onnx", "--out", out,
             "--latency-runs", "0", "--threads", "1"]) == 0
started = time.monotonic()
while time.monotonic() - started < 25:  # past the ~20 s after which ORT's telemetry looked its host up
    assert main(["eval", out + "/MobileNetV3-Small.onnx", "--data", images, "--runtime", "onnxruntime",
                 "--threads", "1"]) == 0
import socket  # a control: a local connection the trace must show, so an empty trace cannot pass
server = socket.socket(socket.AF_UNIX)
server.bind({control!r})
server.listen(1)
socket.socket(socket.AF_UNIX).connect({control!r})
"""


@pytest.mark.slow
def test_an_export_and_a_long_onnx_runtime_evaluation_make_no_connection_and_no_dns_query(tmp_path: Path) -> None:
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (make test installs it)")
    images = tmp_path / "images"
    for i in range(4):
        write_image(images / f"{i}.png", seed=i)
    (images / "labels.csv").write_text("file,label\n" + "".join(f"{i}.png,{i}\n" for i in range(4)))
    out = tmp_path / "out"
    log = tmp_path / "trace"
    control = str(tmp_path / "control.sock")
    script = SCRIPT.format(images=str(images), out=str(out), control=control)
    done = subprocess.run([strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(log), sys.executable,
                           "-c", script], capture_output=True, text=True, timeout=600)
    if done.returncode != 0 and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip().splitlines()[0]}")
    assert done.returncode == 0, done.stderr[-2000:]
    calls = log.read_text().splitlines()
    internet = [c for c in calls if re.search(r"sa_family=AF_INET6?\b", c)]
    dns = [c for c in calls if "htons(53)" in c or "resolv" in c]
    assert any("connect(" in c and control in c for c in calls), "the trace holds the control connection"
    assert internet == [] and dns == [], internet[:3] + dns[:3]
