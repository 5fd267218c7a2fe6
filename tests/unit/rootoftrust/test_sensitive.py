"""kms/sensitive.py: the wrapper every secret crosses the root of trust in (tested here, next to its main user)."""

from __future__ import annotations

import copy
import logging
import pickle

import pytest

from trent.kms.sensitive import Sensitive

VALUE = b"\xde\xad\xbe\xef top secret"


def test_repr_and_str_hide_the_bytes() -> None:
    secret = Sensitive(VALUE)

    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret]), repr({"k": secret})):
        assert "top secret" not in text
        assert "dead" not in text.lower()
        assert "xde" not in text
    assert repr(secret) == f"<sensitive {len(VALUE)} bytes>"


def test_logging_hides_the_bytes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("trent.test").info("material %s / %r", Sensitive(VALUE), Sensitive(VALUE))

    assert "top secret" not in caplog.text
    assert "<sensitive 15 bytes>" in caplog.text


def test_reveal_and_len() -> None:
    secret = Sensitive(VALUE)

    assert secret.reveal() == VALUE
    assert len(secret) == len(VALUE)


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (Sensitive(VALUE), Sensitive(VALUE), True),
        (Sensitive(b""), Sensitive(b""), True),
        (Sensitive(VALUE), Sensitive(VALUE[:-1]), False),
        (Sensitive(VALUE), Sensitive(VALUE[:-1] + b"!"), False),
        (Sensitive(b"a"), Sensitive(b"b"), False),
    ],
)
def test_equality(left: Sensitive, right: Sensitive, equal: bool) -> None:
    assert (left == right) is equal
    assert (left != right) is not equal


@pytest.mark.parametrize("other", [VALUE, bytearray(VALUE), VALUE.decode("latin-1"), None])
def test_never_equal_to_raw_values(other: object) -> None:
    assert Sensitive(VALUE) != other
    assert other != Sensitive(VALUE)


def test_not_hashable() -> None:
    with pytest.raises(TypeError):
        hash(Sensitive(VALUE))
    with pytest.raises(TypeError):
        {Sensitive(VALUE)}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_not_picklable(protocol: int) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Sensitive(VALUE), protocol=protocol)


def test_not_copyable_through_pickle_machinery() -> None:
    with pytest.raises(TypeError):
        copy.deepcopy(Sensitive(VALUE))


def test_no_instance_dict() -> None:
    with pytest.raises(AttributeError):
        Sensitive(VALUE).extra = 1  # type: ignore[attr-defined]
