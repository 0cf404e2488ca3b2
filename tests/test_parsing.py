"""Parsing and repairing the simulator's JSON answer."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eibench.simulator.parsing import (
    FIELDS,
    OUTPUT_SCHEMA,
    ParseError,
    SimulatorOutput,
    parse_simulator_output,
)

CLEAN = {"reflection": "1) need x 2) meh 3) nothing new 4) 0/0 5) flat", "anger_delta": -3,
         "trust_delta": 4, "reply": "Fine. Go on.", "continue": "yes", "stop_reason": ""}


def dumps(obj: dict[str, object], **kw: object) -> str:
    return json.dumps(obj, ensure_ascii=False, **kw)  # type: ignore[arg-type]


def expect(text: str, **fields: object) -> SimulatorOutput:
    out = parse_simulator_output(text)
    wanted = {"reflection": CLEAN["reflection"], "anger_delta": -3, "trust_delta": 4,
              "reply": "Fine. Go on.", "keep_going": True, "stop_reason": ""}
    wanted.update(fields)
    got = {k: getattr(out, k) for k in wanted}
    assert got == wanted
    return out


def test_clean_json_needs_no_repair() -> None:
    out = expect(dumps(CLEAN))
    assert out.repairs == ()


def test_code_fence() -> None:
    out = expect("```json\n" + dumps(CLEAN, indent=2) + "\n```")
    assert out.repairs


def test_unclosed_code_fence_truncated() -> None:
    text = "```json\n" + dumps(CLEAN)[:-1]
    expect(text)


def test_think_block_with_draft_json_before_the_answer() -> None:
    draft = dumps({**CLEAN, "anger_delta": 9, "reply": "draft"})
    out = expect(f"<think>Let me draft: {draft}\nno, softer.</think>\n\n{dumps(CLEAN)}")
    assert any("reasoning" in r for r in out.repairs)


def test_orphan_think_close_tag() -> None:
    expect("he was vague {maybe} so anger up</think>" + dumps(CLEAN))


def test_prose_around_the_object() -> None:
    expect("Sure! Here is my answer:\n" + dumps(CLEAN) + "\nHope that helps.")


def test_trailing_commas() -> None:
    text = dumps(CLEAN, indent=1)[:-1].rstrip() + ",\n}"
    out = expect(text)
    assert "removed a trailing comma" in out.repairs


def test_leading_plus_on_numbers() -> None:
    text = dumps(CLEAN).replace('"trust_delta": 4', '"trust_delta": +4')
    assert "+4" in text
    out = expect(text)
    assert any("'+'" in r for r in out.repairs)


def test_raw_newlines_inside_strings() -> None:
    text = dumps({**CLEAN, "reply": "Fine.\nGo on."}).replace("\\n", "\n")
    expect(text, reply="Fine.\nGo on.")


def test_unescaped_quotes_inside_a_string() -> None:
    text = dumps(CLEAN).replace('"Fine. Go on."', '"He said "fine" and left",')
    expect(text, reply='He said "fine" and left')


def test_truncated_reply_is_closed() -> None:
    text = dumps(CLEAN)
    cut = text[:text.index("Go on")]
    out = expect(cut, reply="Fine.", keep_going=True)
    assert any("truncated" in r for r in out.repairs)


def test_truncated_after_continue_no() -> None:
    text = dumps({**CLEAN, "continue": "no", "stop_reason": "done talking"})
    expect(text[:text.index("done") + 2], keep_going=False, stop_reason="do")


def test_truncation_that_loses_required_fields_says_what_is_missing() -> None:
    text = dumps(CLEAN)
    with pytest.raises(ParseError) as info:
        parse_simulator_output(text[:text.index('"trust_delta"') + 5])
    message = str(info.value)
    assert "trust_delta" in message and "reply" in message and "truncated" in message


def test_a_stray_smart_quote() -> None:
    expect(dumps(CLEAN).replace('"', "“", 1))


def test_smart_quotes_everywhere() -> None:
    parts = dumps(CLEAN).split('"')
    rebuilt = parts[0]
    for i, part in enumerate(parts[1:]):
        rebuilt += ("“" if i % 2 == 0 else "”") + part
    expect(rebuilt)


def test_apostrophes_inside_single_quoted_strings() -> None:
    text = ("{'reflection': 'r', 'anger_delta': 1, 'trust_delta': 2, "
            "'reply': 'it\\'s fine, don't worry', 'continue': False, 'stop_reason': None}")
    out = parse_simulator_output(text)
    assert (out.reply, out.keep_going, out.stop_reason) == ("it's fine, don't worry", False, "")


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), ("yes", True), ("no", False), ("Yes.", True), ("NO", False),
    ("是", True), ("否", False), ("true", True), ("false", False), (1, True), (0, False),
])
def test_continue_forms(value: object, expected: bool) -> None:
    expect(dumps({**CLEAN, "continue": value}), keep_going=expected)


@pytest.mark.parametrize(("value", "expected"), [
    ("3", 3), ("+3", 3), ("-3", -3), (" +2 ", 2), ("−4", -4), (2.4, 2), (2.5, 3), (-2.5, -3),
    ("-1.6", -2), ("5 points", 5), (12, 12),
])
def test_delta_forms(value: object, expected: int) -> None:
    expect(dumps({**CLEAN, "anger_delta": value}), anger_delta=expected)


def test_bare_keys_and_missing_commas() -> None:
    text = '{anger_delta: -3, trust_delta: 4 "reply": "Fine. Go on." continue: yes}'
    expect(text, reflection="")


def test_answer_nested_in_a_wrapper() -> None:
    expect(dumps({"output": CLEAN}))


def test_answer_encoded_as_a_json_string() -> None:
    expect(json.dumps(dumps(CLEAN)))


def test_reflection_given_as_an_object() -> None:
    out = parse_simulator_output(dumps({**CLEAN, "reflection": {"needs": "facts", "tone": "cold"}}))
    assert out.reflection == "needs: facts\ntone: cold"


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("I would rather not answer in JSON.", "no JSON object"),
    (dumps({k: v for k, v in CLEAN.items() if k != "reply"}), "missing required field(s): reply"),
    (dumps({**CLEAN, "anger_delta": "a lot"}), "anger_delta must be an integer, got 'a lot'"),
    (dumps({**CLEAN, "trust_delta": None}), "trust_delta must be an integer, got null"),
    (dumps({**CLEAN, "anger_delta": True}), "anger_delta must be an integer, got true"),
    (dumps({**CLEAN, "continue": "maybe"}), 'continue must be "yes" or "no", got "maybe"'),
    (dumps({**CLEAN, "reply": "   "}), "reply is empty"),
    ('{"anger_delta": NaN, "trust_delta": 1, "reply": "x", "continue": "yes"}', "finite"),
])
def test_clear_errors(text: str, fragment: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_simulator_output(text)
    assert fragment in str(info.value)


def test_missing_continue_is_an_error_unless_truncated() -> None:
    complete = dumps({k: v for k, v in CLEAN.items() if k not in ("continue", "stop_reason")})
    with pytest.raises(ParseError, match="continue"):
        parse_simulator_output(complete)
    assert parse_simulator_output(complete[:-2]).keep_going is True


def test_schema_lists_every_field_in_order() -> None:
    assert list(OUTPUT_SCHEMA["properties"]) == list(FIELDS)
    assert OUTPUT_SCHEMA["required"] == list(FIELDS)
    assert OUTPUT_SCHEMA["additionalProperties"] is False


# -- property: any valid answer, however wrapped, reads back the same ------------------------

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
_answer = st.fixed_dictionaries({
    "reflection": _text,
    "anger_delta": st.integers(-30, 30),
    "trust_delta": st.integers(-30, 30),
    "reply": _text.filter(lambda s: bool(s.strip())),
    "continue": st.sampled_from(["yes", "no"]),
    "stop_reason": _text,
})


def _wrap(obj: dict[str, object], how: str, ascii_only: bool, indent: int | None) -> str:
    text = json.dumps(obj, ensure_ascii=ascii_only, indent=indent)
    if how == "fence":
        return f"```json\n{text}\n```"
    if how == "think":
        return f"<think>\nThe reply was {{vague}}; anger up.\n</think>\n{text}"
    if how == "trailing_comma":
        return text[:-1].rstrip() + ",\n}"
    if how == "prose":
        return f"Here you go:\n{text}\nThat's my answer."
    if how == "all":
        return f"<think>hm</think>```json\n{text[:-1].rstrip()},}}\n```"
    return text


@settings(max_examples=300, deadline=None)
@given(_answer, st.sampled_from(["plain", "fence", "think", "trailing_comma", "prose", "all"]),
       st.booleans(), st.sampled_from([None, 2]))
def test_wrapped_valid_answers_parse_to_the_same_values(
        obj: dict[str, object], how: str, ascii_only: bool, indent: int | None) -> None:
    out = parse_simulator_output(_wrap(obj, how, ascii_only, indent))
    assert out.reflection == str(obj["reflection"]).strip()
    assert out.anger_delta == obj["anger_delta"]
    assert out.trust_delta == obj["trust_delta"]
    assert out.reply == str(obj["reply"]).strip()
    assert out.keep_going is (obj["continue"] == "yes")
    assert out.stop_reason == str(obj["stop_reason"]).strip()
