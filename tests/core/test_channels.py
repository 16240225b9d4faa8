"""Channel names: the single-segment Bayeux rule and the builder."""

from __future__ import annotations

import enum
import uuid

import pytest

from flask_fanout import MAX_CHANNEL_LENGTH
from flask_fanout import InvalidChannelError
from flask_fanout import channel
from flask_fanout import validate_channel


@pytest.mark.parametrize(
    "name",
    ["comments-123", "events", "a", "A_b-c!d~e(f)g$h@i", "x" * MAX_CHANNEL_LENGTH, "0"],
)
def test_valid(name: str) -> None:
    assert validate_channel(name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "empty"),
        ("/comments", "starts with '/'"),
        ("comments/1", "single Bayeux segment"),
        ("*", "wildcards"),
        ("comments-*", "wildcards"),
        ("**", "wildcards"),
        ("a b", "' '"),
        ("a.b", "'.'"),
        ("caf\u00e9", "'\u00e9'"),
        ("a\nb", "'\\\\n'"),
        ("x" * (MAX_CHANNEL_LENGTH + 1), "limit is 128"),
        ("meta", "reserved"),
        ("service", "reserved"),
        ("a:b", "':'"),
    ],
)
def test_invalid(name: str, fragment: str) -> None:
    with pytest.raises(InvalidChannelError, match=fragment) as info:
        validate_channel(name)
    assert info.value.channel == name
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value", [None, 12, b"bytes", ["a"]])
def test_not_a_string(value: object) -> None:
    with pytest.raises(InvalidChannelError, match="expected a str"):
        validate_channel(value)


def test_str_subclass_is_normalised() -> None:
    class Name(str):
        pass

    result = validate_channel(Name("abc"))
    assert result == "abc"
    assert type(result) is str


def test_str_enum_members_give_their_value() -> None:
    class Kind(str, enum.Enum):  # noqa: UP042 - str() of a member is "Kind.COMMENTS"
        COMMENTS = "comments"

    assert validate_channel(Kind.COMMENTS) == "comments"
    assert channel(Kind.COMMENTS, 3) == "comments-3"


def test_channel_builder() -> None:
    assert channel("comments", 123) == "comments-123"
    assert channel("events") == "events"
    ident = uuid.UUID(int=1)
    assert channel("doc", ident) == f"doc-{ident}"


@pytest.mark.parametrize(
    ("parts", "fragment"),
    [
        ((), "at least one part"),
        (("a", None), "NoneType"),
        (("a", True), "bool"),
        (("a", 1.5), "float"),
        (("a", ""), "empty"),
        (("a", "b/c"), "single Bayeux segment"),
        (("/a", 1), "starts with"),
    ],
)
def test_channel_builder_rejects(parts: tuple[object, ...], fragment: str) -> None:
    with pytest.raises(InvalidChannelError, match=fragment):
        channel(*parts)  # type: ignore[arg-type]
