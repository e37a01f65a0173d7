"""Qt (PySide6) front end of the MobileNet Compression Studio; depends on `core`, never the reverse."""
