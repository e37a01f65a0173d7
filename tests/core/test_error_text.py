"""Error text a window shows: never terminal colour codes, never cut off at a back end's banner line."""

from __future__ import annotations


def test_error_text_loses_terminal_colour_codes_and_is_not_cut_at_a_banner() -> None:
    from core.errors import first_line, plain

    raw = "\x1b[1m\x1b[31mTorchExportError: Failed to export.\x1b[0m\nNext steps:\n- give the model a static batch"
    assert plain(raw) == "TorchExportError: Failed to export.\nNext steps:\n- give the model a static batch"
    assert first_line(RuntimeError("\x1b[33mNext steps:\x1b[0m\nconvert the model first")) == "convert the model first"
