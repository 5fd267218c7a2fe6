"""TagResource, UntagResource, ListResourceTags, and the tag rules CreateKey shares.

Rules recorded from AWS (docs/aws-semantics.md A.5 CreateKey): at most 50 tags per key ("Too many tags"),
no duplicate keys in one request ("Duplicate tag keys"), and the aws: prefix (any case) is reserved.
"""

from __future__ import annotations

from collections.abc import Sequence

from trent.authz.conditions import FactValue
from trent.kms.errors import TagException
from trent.kms.keys import Tag
from trent.kms.operations import Operation
from trent.kms.results import Empty, ListResourceTagsResult
from trent.ops import paging
from trent.ops.context import RequestContext
from trent.ops.deps import Deps
from trent.ops.resolution import resolve_key

MAX_TAGS = 50


def checked_tags(existing: Sequence[Tag], new: Sequence[Tag]) -> tuple[Tag, ...]:
    keys = [t.tag_key for t in new]
    if len(set(keys)) != len(keys):
        raise TagException("Duplicate tag keys")
    if any(k.lower().startswith("aws:") for k in keys):
        raise TagException("Tags beginning with aws: are reserved")
    if len({t.tag_key for t in existing} | set(keys)) > MAX_TAGS:
        raise TagException("Too many tags")
    return tuple(new)


def request_tag_facts(tags: Sequence[Tag]) -> dict[str, FactValue]:
    """aws:RequestTag/<key> and aws:TagKeys, the condition keys of a request that carries tags."""
    facts: dict[str, FactValue] = {f"aws:requesttag/{t.tag_key.lower()}": t.tag_value for t in tags}
    if tags:
        facts["aws:tagkeys"] = tuple(t.tag_key for t in tags)
    return facts


def tag_resource(deps: Deps, ctx: RequestContext, *, key_id: str, tags: tuple[Tag, ...]) -> Empty:
    with deps.store.transaction() as tx:
        key = resolve_key(
            deps, ctx, key_id, Operation.TagResource, aliases=False, reader=tx, facts=request_tag_facts(tags)
        )
        tx.put_tags(key.store_id, checked_tags(tx.get_tags(key.store_id), tags))
    return Empty()


def untag_resource(deps: Deps, ctx: RequestContext, *, key_id: str, tag_keys: tuple[str, ...]) -> Empty:
    if any(k.lower().startswith("aws:") for k in tag_keys):
        raise TagException("Tags beginning with aws: are reserved")
    with deps.store.transaction() as tx:
        facts = {"aws:tagkeys": tuple(tag_keys)}
        key = resolve_key(deps, ctx, key_id, Operation.UntagResource, aliases=False, reader=tx, facts=facts)
        tx.delete_tags(key.store_id, tag_keys)
    return Empty()


def list_resource_tags(
    deps: Deps, ctx: RequestContext, *, key_id: str, limit: int = 50, marker: str | None = None
) -> ListResourceTagsResult:
    key = resolve_key(deps, ctx, key_id, Operation.ListResourceTags, aliases=False)
    start = paging.after(marker) or ""
    rest = [t for t in deps.store.get_tags(key.store_id) if t.tag_key > start]
    page = tuple(rest[:limit])
    more = len(rest) > limit
    return ListResourceTagsResult(page, more, paging.marker(page[-1].tag_key) if more else None)
