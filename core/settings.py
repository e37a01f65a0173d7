"""User settings shared by the CLI and the studio (a small JSON file, written atomically)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from core.storage import atomic_write_text


@dataclass
class Settings:
    weights_dir: str = ""

    @staticmethod
    def path():
        from core.paths import config_dir

        return config_dir() / "settings.json"


def load_settings() -> Settings:
    path = Settings.path()
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return Settings()
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in raw.items() if k in known})


def save_settings(settings: Settings) -> None:
    atomic_write_text(Settings.path(), json.dumps(asdict(settings), indent=2))
