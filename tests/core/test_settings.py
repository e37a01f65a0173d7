"""User settings: saved atomically, read back, and used to find weights."""

from __future__ import annotations

from pathlib import Path

from core.paths import weights_dirs
from core.settings import Settings, load_settings, save_settings


def test_settings_round_trip_and_feed_the_weights_search(tmp_path: Path) -> None:
    original = load_settings()
    try:
        save_settings(Settings(weights_dir=str(tmp_path)))
        assert load_settings() == Settings(weights_dir=str(tmp_path))
        assert tmp_path in weights_dirs()
    finally:
        save_settings(original)


def test_corrupt_or_unknown_settings_fall_back_to_defaults() -> None:
    original = load_settings()
    try:
        Settings.path().write_text("{ not json")
        assert load_settings() == Settings()
        Settings.path().write_text('{"weights_dir": "/w", "from_the_future": 1}')
        assert load_settings().weights_dir == "/w"
    finally:
        save_settings(original)
