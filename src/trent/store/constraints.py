"""A grant's constraints as the SQL adapters store them: one JSON text, the same for SQLite and PostgreSQL (so a
dump of one reads as the other)."""

from __future__ import annotations

import json

from trent.kms.keys import GrantConstraints


def encode(constraints: GrantConstraints | None) -> str | None:
    if constraints is None:
        return None
    subset, equals = constraints.encryption_context_subset, constraints.encryption_context_equals
    return json.dumps(
        {
            "subset": None if subset is None else dict(subset),
            "equals": None if equals is None else dict(equals),
            "source_arn": constraints.source_arn,
        },
        sort_keys=True,
    )


def decode(text: str | None) -> GrantConstraints | None:
    if text is None:
        return None
    raw = json.loads(text)
    return GrantConstraints(raw.get("subset"), raw.get("equals"), raw.get("source_arn"))
