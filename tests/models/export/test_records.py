"""The JSONL reader's one-pass parse takes from each record what the dict path takes."""

from __future__ import annotations

import json

from supervisor_desk.models.export.records import entry_from_json, entry_from_record
from tests.models.export_samples import make_record


def test_messages_that_are_not_text_messages_count_with_no_text_in_both_paths() -> None:
    record = json.loads(make_record(3).model_dump_json())
    record["messages"] = [
        1, None, "just a string", {"nope": 1}, {"text": 5}, {"text": None},
        {"text": "kept", "author": {"role": "ai"}, "extra": [1, 2]}, {"text": ""},
    ]
    raw = json.dumps(record).encode()
    from_json = entry_from_json(raw, 0, len(raw))
    from_dict = entry_from_record(json.loads(raw), 0, len(raw))
    assert from_json.texts == from_dict.texts == ("", "", "", "", "", "", "kept", "")
    assert from_json.summary == from_dict.summary
