"""Realtime usage → tokens by kind and estimated cost (``call_gateway.realtime.usage``), and the price knob."""

from __future__ import annotations

import json

import pytest

from call_gateway.realtime.metrics import CallMetrics
from call_gateway.realtime.settings import RealtimeSettings
from call_gateway.realtime.usage import DEFAULT_PRICES, KINDS, PriceTable, split_usage
from centralita.config import ConfigError

FULL = {
    "total_tokens": 1500,
    "input_tokens": 1200,
    "output_tokens": 300,
    "input_token_details": {
        "text_tokens": 400,
        "audio_tokens": 800,
        "image_tokens": 0,
        "cached_tokens": 600,
        "cached_tokens_details": {"text_tokens": 300, "audio_tokens": 300},
    },
    "output_token_details": {"text_tokens": 50, "audio_tokens": 250},
}


def test_cached_tokens_are_taken_out_of_the_input_kinds():
    assert split_usage(FULL) == {
        "input_text": 100,
        "cached_text": 300,
        "input_audio": 500,
        "cached_audio": 300,
        "output_text": 50,
        "output_audio": 250,
    }


def test_totals_without_details_are_counted_as_unknown():
    assert split_usage({"total_tokens": 10, "input_tokens": 7, "output_tokens": 3}) == {
        "input_unknown": 7,
        "output_unknown": 3,
    }


@pytest.mark.parametrize(
    "usage", [None, {}, "x", {"input_tokens": -5, "output_tokens": True}, {"input_token_details": [1]}]
)
def test_missing_or_malformed_usage_counts_nothing(usage):
    assert split_usage(usage) == {}


def test_cost_uses_usd_per_million_tokens():
    tokens = split_usage(FULL)
    expected = (100 * 4 + 300 * 0.4 + 500 * 32 + 300 * 0.4 + 50 * 16 + 250 * 64) / 1e6
    assert PriceTable().cost(tokens) == pytest.approx(expected)
    assert set(DEFAULT_PRICES) == set(KINDS)


def test_price_file_overrides_some_kinds(tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"output_audio": 20, "input_audio": 10.5}))
    monkeypatch.setenv("REALTIME_PRICES_FILE", str(path))
    table = RealtimeSettings.from_env().prices
    assert table.per_million["output_audio"] == 20.0 and table.per_million["input_audio"] == 10.5
    assert table.per_million["input_text"] == DEFAULT_PRICES["input_text"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"audio_out": 1}', "unknown kinds ['audio_out']"),
        ('{"output_audio": -1}', "output_audio must be a number >= 0"),
        ('{"output_audio": "64"}', "output_audio must be a number >= 0"),
    ],
)
def test_bad_price_files_are_refused_with_the_reason(tmp_path, monkeypatch, text, message):
    path = tmp_path / "prices.json"
    path.write_text(text)
    monkeypatch.setenv("REALTIME_PRICES_FILE", str(path))
    with pytest.raises(ConfigError, match="REALTIME_PRICES_FILE") as err:
        PriceTable.from_env()
    assert message in str(err.value)


def test_a_missing_price_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("REALTIME_PRICES_FILE", str(tmp_path / "nope.json"))
    with pytest.raises(ConfigError, match=r"nope\.json"):
        PriceTable.from_env()


def test_no_price_file_means_the_defaults(monkeypatch):
    monkeypatch.delenv("REALTIME_PRICES_FILE", raising=False)
    assert PriceTable.from_env() == PriceTable()


def test_call_metrics_add_up_every_response_and_log_the_cost():
    m = CallMetrics(call_id="c1", prices=PriceTable({**DEFAULT_PRICES, "input_unknown": 1e6, "output_unknown": 0}))
    m.record_usage({"input_tokens": 2, "output_tokens": 1})
    m.record_usage({"input_tokens": 3})
    m.record_usage(None)
    assert m.tokens == {"input_unknown": 5, "output_unknown": 1}
    assert m.cost_usd == pytest.approx(5.0)
    assert "tokens=6 cost_usd=5.0000" in m.log_line()
