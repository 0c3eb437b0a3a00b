"""The tags a mission run carries: AutoAgent's, a summary of its params, the user's own."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoagent.errors import AutoAgentError
from autoagent.server.tags import (
    PARAM_VALUE_MAX,
    PARAMS_MAX,
    check_user_tags,
    mission_tags,
    param_tags,
    params_of,
    user_tags,
)


def test_scalar_params_are_summarized_and_read_back() -> None:
    tags = param_tags({"topic": "solar  power\nin 2027", "n": 3, "fast": True, "docs": [1, 2]})
    assert tags == ["param:topic=solar power in 2027", "param:n=3", "param:fast=True"]
    assert params_of([*mission_tags("m"), *tags, "nightly"]) == {
        "topic": "solar power in 2027",
        "n": "3",
        "fast": "True",
    }


def test_a_long_value_is_cut_and_only_the_first_params_are_kept() -> None:
    (tag,) = param_tags({"q": "x" * 500})
    assert len(tag.removeprefix("param:q=")) == PARAM_VALUE_MAX and tag.endswith("…")
    assert len(param_tags({f"p{i}": i for i in range(30)})) == PARAMS_MAX


def test_the_users_tags_are_checked_and_told_apart_from_autoagents() -> None:
    assert check_user_tags(["nightly", "team:research", "nightly", "v1.2"]) == [
        "nightly",
        "team:research",
        "v1.2",
    ]
    tags = [*mission_tags("m"), *param_tags({"a": 1}), "nightly"]
    assert user_tags(tags) == ["nightly"]


@pytest.mark.parametrize(
    "bad", ["", " x", "two words", "-x", "x" * 65, "autoagent", "mission:other", "param:a=1"]
)
def test_a_bad_or_reserved_tag_is_refused_with_its_reason(bad: str) -> None:
    with pytest.raises(AutoAgentError, match="tag"):
        check_user_tags([bad])


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(st.text(), st.integers())))
def test_any_params_give_tags_of_bounded_size_that_read_back(params) -> None:
    tags = param_tags(params)
    assert len(tags) <= PARAMS_MAX
    assert all(len(t) <= len("param:") + 8 + 1 + PARAM_VALUE_MAX for t in tags)
    assert all("\n" not in t for t in tags)
    assert set(params_of(tags)) <= {str(k) for k in params}
