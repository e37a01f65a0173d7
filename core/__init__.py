"""GUI-free engine of the MobileNet Compression Studio.

`import core` stays light: torch and every runtime back end are imported by the
modules that need them, and onnxruntime only inside the functions that run it.
"""

import os

__version__ = "0.1.0"

# The studio promises no network use except explicit weight downloads. ONNX Runtime's built-in telemetry
# resolves a Microsoft host about 20 s into any process that keeps a session; only this variable, set before
# onnxruntime is imported, stops it (`onnxruntime.disable_telemetry_events()` does not).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
