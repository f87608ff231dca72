"""The hub's one JSON spelling: compact, UTF-8 as is (what is stored is what goes out)."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
