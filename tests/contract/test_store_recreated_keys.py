"""A key id deleted and made again (a multi-Region replica replicated again to its Region, a dev reset's
seeded key, an imported key id) is a new record: a handle that read the old one reads the new one, never its
parsed copy of the old, even once the new record has been changed as often as the old had been. Each new key
starts from fresh revisions (kms/keys.py first_revision), the cache key of parsed records and policies."""

from __future__ import annotations

from dataclasses import replace

from tests.contract.conftest import Opener
from tests.contract.records import key
from trent.kms.keys import Key, first_revision
from trent.kms.specs import KeyState


def _made() -> Key:
    """Key 1 as ops make a new key: with its first revisions fresh."""
    fixed = key(1)
    return Key(
        fixed.key_id,
        fixed.account,
        fixed.region,
        fixed.spec,
        fixed.usage,
        fixed.origin,
        fixed.state,
        fixed.creation_date,
    )


def test_a_key_made_again_starts_from_revisions_no_record_had() -> None:
    first, again = _made(), _made()
    assert first.revision != again.revision and first.policy_revision != again.policy_revision
    assert first.evolve().revision != again.revision
    assert 0 < first_revision() < 2**62 + 1


def test_a_handle_reads_a_key_made_again_not_its_copy_of_the_old(open_store: Opener) -> None:
    store, peer = open_store(), open_store()  # peer: another process (or node) of the same store
    old = _made()
    with store.transaction() as tx:
        tx.insert_key(old, None, "{}", [])
    disabled = old.evolve(state=KeyState.DISABLED)
    with store.transaction() as tx:
        tx.update_key(disabled, old.revision)
    assert peer.get_key(old.key_id) == disabled and peer.get_keys([old.key_id])[old.key_id] == disabled
    with store.transaction() as tx:
        tx.delete_key(old.key_id)
    # The new record reaches the revision the peer's copy has, as the old record's revisions from 1 would.
    made = replace(_made(), description="made again")
    with store.transaction() as tx:
        tx.insert_key(made, None, "{}", [])
    touched = made.evolve(description="made again, changed")
    with store.transaction() as tx:
        tx.update_key(touched, made.revision)
    assert peer.get_key(old.key_id) == touched
    assert peer.get_keys([old.key_id])[old.key_id] == touched
