"""User settings shared by the CLI and the studio (a small JSON file, written atomically)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from core.storage import atomic_write_text, read_json


@dataclass
class Settings:
    weights_dir: str = ""

    @staticmethod
    def path():
        from core.paths import config_dir

        return config_dir() / "settings.json"


def load_settings() -> Settings:
    """The saved settings; a missing, unreadable or hand-broken file (a list, a number where a folder belongs)
    gives the defaults for what it gets wrong, never a crash of every command."""
    try:
        raw = read_json(Settings.path())
    except (OSError, ValueError):
        return Settings()
    if not isinstance(raw, dict):
        return Settings()
    defaults = Settings()
    kept = {f.name: raw[f.name] for f in fields(Settings)
            if f.name in raw and isinstance(raw[f.name], type(getattr(defaults, f.name)))}
    return Settings(**kept)


def save_settings(settings: Settings) -> None:
    atomic_write_text(Settings.path(), json.dumps(asdict(settings), indent=2))
