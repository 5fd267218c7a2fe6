"""AuditEvent.body(): the canonical record, bounded in size whatever the caller sent (docs/decisions/0007)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from trent.audit.chain import canonical
from trent.audit.events import MAX_FIELD_CHARS, MAX_ITEMS, MAX_RECORD_BYTES, AuditEvent, UserIdentity


def event(request_parameters: dict[str, Any] | None = None, **fields: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "event_name": "TagResource",
        "event_time": datetime(2026, 1, 1, tzinfo=UTC),
        "region": "us-east-1",
        "request_id": "req-1",
        "event_id": "evt-1",
        "user_identity": UserIdentity("Root", "111122223333", "arn:aws:iam::111122223333:root", "AKIAEXAMPLE"),
        "source_ip": "127.0.0.1",
        "user_agent": "test",
        "read_only": False,
        "recipient_account_id": "111122223333",
        "request_parameters": request_parameters,
        **fields,
    }
    return AuditEvent(**values)


def test_an_ordinary_record_is_its_canonical_bytes() -> None:
    ordinary = event({"keyId": "k", "tags": [{"tagKey": "a", "tagValue": "b"}]})
    assert ordinary.body() == canonical(ordinary.record())
    assert b"omitted" not in ordinary.body()


def test_long_strings_are_cut_and_the_record_marked() -> None:
    big = event({"keyId": "k" * 900_000, "description": "short"}, user_agent="u" * 100_000)
    record = orjson.loads(big.body())
    assert len(big.body()) <= MAX_RECORD_BYTES
    assert record["omitted"] is True
    assert record["requestParameters"]["keyId"] == "k" * (MAX_FIELD_CHARS - 3) + "..."
    assert record["requestParameters"]["description"] == "short"
    assert record["userAgent"].endswith("...")


def test_long_lists_keep_their_first_entries() -> None:
    tags = [{"tagKey": f"key{i}" + "k" * 100, "tagValue": "v" * 50} for i in range(1000)]
    record = orjson.loads(event({"keyId": "k", "tags": tags}).body())
    assert record["omitted"] is True
    assert [t["tagKey"] for t in record["requestParameters"]["tags"]] == [t["tagKey"] for t in tags[:MAX_ITEMS]]


def test_what_cannot_be_cut_small_enough_is_left_out() -> None:
    # 100 pairs of 1024 control characters each: JSON writes each as \\u00XX, six bytes.
    context = {f"{i:04}" + "\x01" * 2000: "\x01" * 2000 for i in range(500)}
    big = event({"keyId": "k", "encryptionContext": context}, error_code="X", error_message="\x01" * 4096)
    body = big.body()
    record = orjson.loads(body)
    assert len(body) <= MAX_RECORD_BYTES
    assert record["omitted"] is True
    assert record["requestParameters"] is None and record["responseElements"] is None
    assert record["errorCode"] == "X" and record["errorMessage"].endswith("...")
    assert record["eventName"] == "TagResource" and record["requestID"] == "req-1"
