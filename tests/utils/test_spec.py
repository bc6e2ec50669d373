import math

import pytest

from recon3r.errors import ConfigError
from recon3r.utils.spec import format_spec, parse_spec, split_top_level_sum


class Box:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __rmatmul__(self, count):
        return Box("resample", count, self)

    def __rmul__(self, count):
        return Box("repeat", count, self)

    def __add__(self, other):
        return Box("concat", self, other)


NAMESPACE = {"Box": Box, "L21": "the-l21-instance"}


def test_literal_arguments_and_nested_calls():
    box = parse_spec("Box(Box(L21, k=2), size=(512, 384), bounds=('exp', -inf, inf), d={'a': [1, 2.5]}, n=None)", NAMESPACE)
    inner = box.args[0]
    assert isinstance(inner, Box) and inner.args == ("the-l21-instance",) and inner.kwargs == {"k": 2}
    assert box.kwargs["size"] == (512, 384)
    assert box.kwargs["bounds"][1] == -math.inf and box.kwargs["bounds"][2] == math.inf
    assert box.kwargs["d"] == {"a": [1, 2.5]} and box.kwargs["n"] is None


def test_number_arithmetic_is_allowed():
    assert parse_spec("Box(lr=1e-4 * 2, n=-3)", NAMESPACE).kwargs == {"lr": 2e-4, "n": -3}


def test_operators_follow_the_objects_when_enabled():
    result = parse_spec("100 @ Box(a=1) + 2 * Box(b=2)", NAMESPACE, allow_operators=True)
    assert result.args[0] == "concat"
    assert result.args[1].args[:2] == ("resample", 100) and result.args[2].args[:2] == ("repeat", 2)


def test_operators_are_refused_when_disabled():
    with pytest.raises(ConfigError, match="operator '@'"):
        parse_spec("100 @ Box()", NAMESPACE)


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os').system('echo hi')", "only whitelisted names may be called"),
        ("Box(x=__import__('os'))", "unknown name '__import__'"),
        ("Box(x=Box.__class__)", "attribute access is not allowed"),
        ("Box()[0]", "subscripts are not allowed"),
        ("Box(lambda: 1)", "Lambda expressions are not allowed"),
        ("Box(*[1])", "'\\*' unpacking is not allowed"),
        ("Box(**{'a': 1})", "'\\*\\*' unpacking is not allowed"),
        ("open('/etc/passwd')", "unknown name 'open'"),
        ("Box(", "invalid spec"),
        ("", "empty spec"),
    ],
)
def test_code_is_rejected_with_a_clear_error(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_spec(text, NAMESPACE)


def test_error_points_at_the_offending_token():
    with pytest.raises(ConfigError) as info:
        parse_spec("Box(a=1, b=os.system)", NAMESPACE, what="model")
    lines = str(info.value).splitlines()
    assert lines[0] == "invalid model spec: attribute access is not allowed"
    assert lines[2].index("^") == lines[1].index("os.system")
    assert lines[2].count("^") == len("os.system")


def test_bad_keyword_names_the_call():
    def factory(a):
        return a

    with pytest.raises(ConfigError, match="bad arguments for factory"):
        parse_spec("factory(b=1)", {"factory": factory})


def test_format_spec_round_trips():
    kwargs = {"img_size": (512, 384), "depth_mode": ("exp", -math.inf, math.inf), "x": [1, 2], "name": "a'b", "t": (1,)}
    text = format_spec("Box", kwargs)
    assert parse_spec(text, NAMESPACE).kwargs == kwargs


def test_split_top_level_sum_keeps_nested_sums_inside_calls():
    text = "100 @ Box(a=1+2) + Box(b='x + y') + 3 * Box()"
    assert split_top_level_sum(text) == ["100 @ Box(a=1+2)", "Box(b='x + y')", "3 * Box()"]
