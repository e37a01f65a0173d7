"""GUI-free engine of the MobileNet Compression Studio.

`import core` stays light: torch and every runtime back end are imported by the
modules that need them, and onnxruntime only inside the functions that run it.
"""

__version__ = "0.1.0"
