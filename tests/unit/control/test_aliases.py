"""Weighted alias routing: which version one invocation runs for a draw in [0, 1), and the
RoutingConfig rules."""

import pytest

from lamina.control.aliases import check_routing, pick_version
from lamina.errors import InvalidParameterValueException
from lamina.model import LATEST, Alias


@pytest.mark.parametrize(("primary", "weights", "draw", "expected"), [
    ("1", {}, 0.0, "1"),
    ("1", {}, 0.999, "1"),
    (LATEST, {}, 0.5, LATEST),
    ("1", {"2": 0.3}, 0.0, "2"),
    ("1", {"2": 0.3}, 0.299, "2"),
    ("1", {"2": 0.3}, 0.3, "1"),  # the weight is the share of draws below it
    ("1", {"2": 0.3}, 0.9, "1"),
    ("1", {"2": 0.0}, 0.0, "1"),  # a zero weight never routes
    ("3", {"2": 0.999}, 0.5, "2"),
])
def test_pick_version(primary, weights, draw, expected):
    alias = Alias(function_name="f", name="live", function_version=primary, weights=weights)
    assert pick_version(alias, draw) == expected


def test_pick_version_splits_traffic_by_weight_over_uniform_draws():
    alias = Alias(function_name="f", name="live", function_version="1", weights={"2": 0.25})
    picks = [pick_version(alias, i / 1000) for i in range(1000)]
    assert picks.count("2") == 250 and picks.count("1") == 750


@pytest.mark.parametrize(("primary", "weights", "message"), [
    ("1", {"2": 0.1, "3": 0.1}, "Number of items in AdditionalVersionWeights cannot be greater than 1"),
    (LATEST, {"2": 0.1}, "$LATEST is not supported for an alias pointing to more than 1 version"),
    ("1", {"1": 0.1}, "Invalid function version 1. Function version 1 is already included in routing"),
    ("1", {"2": 1.0}, "Invalid weight 1.0 for function version 2"),
    ("1", {"2": -0.1}, "Invalid weight -0.1 for function version 2"),
])
def test_check_routing_refuses(primary, weights, message):
    with pytest.raises(InvalidParameterValueException) as raised:
        check_routing(primary, weights)
    assert message in raised.value.message


@pytest.mark.parametrize(("primary", "weights"), [("1", {}), (LATEST, {}), ("1", {"2": 0.0}), ("1", {"2": 0.99})])
def test_check_routing_accepts(primary, weights):
    check_routing(primary, weights)
