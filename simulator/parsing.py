"""Parse the simulated user's JSON answer, repairing what LLMs commonly break.

Valid JSON is read as is. Otherwise a lenient reader accepts the usual damage: text or a
``<think>`` block around the object, code fences, trailing or missing commas, a leading ``+`` on
numbers, raw newlines and unescaped quotes inside strings, smart or single quotes, unquoted keys,
Python literals, and truncation (open strings and braces are closed when the required fields
survive). The values are then normalised: deltas given as strings or floats are rounded to
integers, ``continue`` given as a bool or ``yes``/``no``/``是``/``否`` becomes a bool.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

#: The fields the simulator must return, in the order the prompts ask for them.
FIELDS = ("reflection", "anger_delta", "trust_delta", "reply", "continue", "stop_reason")
REQUIRED = ("anger_delta", "trust_delta", "reply", "continue")

#: JSON schema of the answer, for backends that can constrain generation. Deltas are not bounded
#: here (not every provider accepts numeric bounds); they are clipped when applied.
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reflection": {"type": "string", "description": "private notes: needs, reply quality, "
                       "anything new, the deltas, the tone"},
        "anger_delta": {"type": "integer", "description": "change of anger, -10..10"},
        "trust_delta": {"type": "integer", "description": "change of trust, -10..10"},
        "reply": {"type": "string", "description": "what the person says out loud"},
        "continue": {"type": "string", "enum": ["yes", "no"]},
        "stop_reason": {"type": "string", "description": "empty unless continue is no"},
    },
    "required": list(FIELDS),
    "additionalProperties": False,
}

_ALIASES = {"keep_going": "continue", "should_continue": "continue", "continue_": "continue",
            "reason": "stop_reason", "stopreason": "stop_reason", "angerdelta": "anger_delta",
            "trustdelta": "trust_delta", "response": "reply", "reflections": "reflection"}
_YES = {"yes", "y", "true", "1", "continue", "go on", "是", "是的", "继续", "对"}
_NO = {"no", "n", "false", "0", "stop", "end", "否", "不", "不是", "结束", "停止", "不继续"}
_DOUBLE_QUOTES = '"“”„'
_SINGLE_QUOTES = "'‘’"
_QUOTES = _DOUBLE_QUOTES + _SINGLE_QUOTES
_NUMBER_RE = re.compile(r"[+\-−]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_KEY_AHEAD_RE = re.compile(r"[\"“”'‘’]?[A-Za-z_][\w\- ]{0,40}[\"“”'‘’]?\s*[:：]")
_KNOWN_KEY_AHEAD_RE = re.compile(
    r"[\"“”'‘’]?(?:" + "|".join([*FIELDS, *_ALIASES]) + r")[\"“”'‘’]?\s*[:：]", re.IGNORECASE)
_BARE_KEY_RE = re.compile(r"[A-Za-z_][\w\-]*")
_THINK_RE = re.compile(r"^\s*<(think|thinking|reasoning|thought)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_ORPHAN_THINK_CLOSE_RE = re.compile(r"</(?:think|thinking|reasoning|thought)>", re.IGNORECASE)
_DELTA_TEXT_RE = re.compile(r"^([+\-]?)\s*(\d+(?:\.\d*)?|\.\d+)")


class ParseError(ValueError):
    """The output could not be turned into a simulator answer.

    Attributes:
        problems: each thing that is wrong or missing, in words.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SimulatorOutput:
    """One parsed simulator answer.

    Attributes:
        repairs: what had to be fixed to read it (empty for clean JSON).
    """

    reflection: str
    anger_delta: int
    trust_delta: int
    reply: str
    keep_going: bool
    stop_reason: str
    repairs: tuple[str, ...] = ()


def parse_simulator_output(text: str) -> SimulatorOutput:
    """Parse and normalise one simulator answer.

    Raises:
        ParseError: naming what is missing or invalid.
    """
    repairs: list[str] = []
    cleaned = _strip_preamble(text, repairs)
    obj, truncated = _find_object(cleaned, repairs)
    return _normalise(obj, truncated=truncated, repairs=repairs)


def _strip_preamble(text: str, repairs: list[str]) -> str:
    cleaned = text.lstrip("\ufeff").strip()
    while (m := _THINK_RE.match(cleaned)) is not None:
        cleaned = cleaned[m.end():].lstrip()
        repairs.append("removed a reasoning block before the JSON")
    close = _ORPHAN_THINK_CLOSE_RE.search(cleaned)
    if (close is not None and not cleaned[:close.start()].lstrip().startswith("{")
            and "{" in cleaned[close.end():]):
        cleaned = cleaned[close.end():].strip()
        repairs.append("removed reasoning text ending in a closing think tag")
    if cleaned.lower().startswith(("<think>", "<thinking>")):
        cleaned = cleaned.split(">", 1)[1]
        repairs.append("ignored an unclosed think tag")
    try:
        decoded = json.loads(cleaned)
    except (json.JSONDecodeError, ValueError):
        return cleaned
    if isinstance(decoded, str) and decoded.strip().startswith("{"):
        repairs.append("decoded a JSON object that was encoded as a string")
        return decoded
    return cleaned


def _has_fields(obj: Any) -> bool:
    return isinstance(obj, dict) and any(_canonical_key(k) in FIELDS for k in obj)


def _find_object(text: str, repairs: list[str]) -> tuple[dict[str, Any], bool]:
    decoder = json.JSONDecoder(strict=False)
    errors: list[str] = []
    pos = 0
    while (start := text.find("{", pos)) != -1:
        try:
            obj, end = decoder.raw_decode(text, start)
            truncated = False
        except (json.JSONDecodeError, ValueError):
            reader = _LenientReader(text, start)
            try:
                obj = reader.read_value()
            except _ReadError as exc:
                errors.append(str(exc))
                pos = start + 1
                continue
            end, truncated = reader.pos, reader.truncated
            for note in reader.repairs:
                if note not in repairs:
                    repairs.append(note)
        obj = _unwrap(obj, repairs)
        if _has_fields(obj):
            if text[:start].strip() or text[end:].strip().strip("`").strip():
                repairs.append("ignored text around the JSON object")
            return obj, truncated
        pos = max(end, start + 1)
    if errors:
        raise ParseError([f"no readable JSON object with the fields {', '.join(REQUIRED)}: "
                          f"{errors[0]}"])
    preview = text.strip()[:80].replace("\n", " ")
    raise ParseError([f"no JSON object with the fields {', '.join(REQUIRED)} in the output "
                      f"(it starts: {preview!r})" if preview else "the output is empty"])


def _unwrap(obj: Any, repairs: list[str]) -> Any:
    """An answer nested one level down ({"output": {...}}) is taken out of its wrapper."""
    if not isinstance(obj, dict) or any(_canonical_key(k) in REQUIRED for k in obj):
        return obj
    inner = [(k, v) for k, v in obj.items() if _has_fields(v)]
    if len(inner) == 1:
        repairs.append(f"took the answer out of the wrapper key {inner[0][0]!r}")
        return inner[0][1]
    return obj


def _canonical_key(key: Any) -> str:
    name = str(key).strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(name, name)


def _normalise(obj: dict[str, Any], *, truncated: bool, repairs: list[str]) -> SimulatorOutput:
    fields: dict[str, Any] = {}
    for key, value in obj.items():
        fields.setdefault(_canonical_key(key), value)
    problems: list[str] = []
    if "continue" not in fields and truncated and all(k in fields for k in REQUIRED if k != "continue"):
        fields["continue"] = "yes"
        repairs.append("continue was cut off; assumed yes")
    missing = [k for k in REQUIRED if k not in fields]
    if missing:
        found = ", ".join(k for k in FIELDS if k in fields) or "none of them"
        note = " (the output looks truncated)" if truncated else ""
        problems.append(f"missing required field(s): {', '.join(missing)}{note}; found: {found}")
    anger = _delta("anger_delta", fields, problems, repairs)
    trust = _delta("trust_delta", fields, problems, repairs)
    keep_going = _keep_going(fields, problems)
    reply = _reply(fields, problems)
    if problems:
        raise ParseError(problems)
    assert anger is not None and trust is not None and keep_going is not None
    if truncated:
        repairs.append("closed a truncated output")
    return SimulatorOutput(reflection=_text(fields.get("reflection")), anger_delta=anger,
                           trust_delta=trust, reply=reply, keep_going=keep_going,
                           stop_reason=_text(fields.get("stop_reason")), repairs=tuple(repairs))


def _round_half_away(value: float) -> int:
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _delta(name: str, fields: dict[str, Any], problems: list[str], repairs: list[str]) -> int | None:
    if name not in fields:
        return None
    value = fields[name]
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        problems.append(f"{name} must be an integer, got {json.dumps(value, ensure_ascii=False)}")
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.append(f"{name} must be a finite integer, got {value}")
            return None
        if value != int(value):
            repairs.append(f"rounded {name} {value} to an integer")
        return _round_half_away(value)
    text = str(value).strip().replace("−", "-").replace("－", "-").replace("＋", "+")
    m = _DELTA_TEXT_RE.match(text)
    if m is None:
        problems.append(f"{name} must be an integer, got {value!r}")
        return None
    number = float(m.group(2)) * (-1 if m.group(1) == "-" else 1)
    repairs.append(f"read {name} from the string {value!r}")
    return _round_half_away(number)


def _keep_going(fields: dict[str, Any], problems: list[str]) -> bool | None:
    if "continue" not in fields:
        return None
    value = fields["continue"]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().strip(".!。！\"'").strip().lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    problems.append(f"continue must be \"yes\" or \"no\", got {json.dumps(value, ensure_ascii=False)}")
    return None


def _reply(fields: dict[str, Any], problems: list[str]) -> str:
    if "reply" not in fields:
        return ""
    value = fields["reply"]
    if isinstance(value, dict | list) or value is None:
        problems.append(f"reply must be a string, got {json.dumps(value, ensure_ascii=False)}")
        return ""
    text = str(value).strip()
    if not text:
        problems.append("reply is empty")
    return text


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return "\n".join(f"{k}: {_text(v)}" for k, v in value.items()).strip()
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value).strip()
    return str(value).strip()


class _ReadError(Exception):
    pass


_MISSING = object()


class _LenientReader:
    """A forgiving JSON reader. ``truncated`` is set when the text ends inside a value."""

    def __init__(self, text: str, pos: int = 0) -> None:
        self.s = text
        self.pos = pos
        self.truncated = False
        self.repairs: list[str] = []

    def _note(self, message: str) -> None:
        if message not in self.repairs:
            self.repairs.append(message)

    def _error(self, message: str) -> _ReadError:
        line = self.s.count("\n", 0, self.pos) + 1
        return _ReadError(f"{message} at line {line}, character {self.pos + 1}")

    def _at_end(self) -> bool:
        return self.pos >= len(self.s)

    def _skip_space(self) -> None:
        s = self.s
        while self.pos < len(s):
            c = s[self.pos]
            if c.isspace():
                self.pos += 1
            elif s.startswith("//", self.pos):
                end = s.find("\n", self.pos)
                self.pos = len(s) if end == -1 else end + 1
                self._note("removed a comment")
            elif s.startswith("/*", self.pos):
                end = s.find("*/", self.pos + 2)
                self.pos = len(s) if end == -1 else end + 2
                self._note("removed a comment")
            else:
                return

    def read_value(self) -> Any:
        self._skip_space()
        if self._at_end():
            self.truncated = True
            return _MISSING
        c = self.s[self.pos]
        if c == "{":
            return self._read_object()
        if c == "[":
            return self._read_array()
        if c in _QUOTES:
            return self._read_string()
        if c in "+-−.0123456789":
            number = self._read_number()
            if number is not _MISSING:
                return number
        return self._read_bare()

    def _read_object(self) -> dict[str, Any]:
        self.pos += 1
        obj: dict[str, Any] = {}
        after_comma = False
        while True:
            self._skip_space()
            if self._at_end():
                self.truncated = True
                return obj
            c = self.s[self.pos]
            if c == "}":
                if after_comma:
                    self._note("removed a trailing comma")
                self.pos += 1
                return obj
            if c == ",":
                self.pos += 1
                after_comma = True
                continue
            if obj and not after_comma:
                self._note("added a missing comma")
            key = self._read_key()
            if self.truncated:
                return obj
            self._skip_space()
            if self._at_end():
                self.truncated = True
                return obj
            if self.s[self.pos] not in ":：=":
                raise self._error(f"expected ':' after the key {key!r}")
            self.pos += 1
            value = self.read_value()
            if value is not _MISSING:
                obj[key] = value
            if self.truncated:
                return obj
            after_comma = False

    def _read_key(self) -> str:
        c = self.s[self.pos]
        if c in _QUOTES:
            return self._read_string()
        m = _BARE_KEY_RE.match(self.s, self.pos)
        if m is None:
            raise self._error(f"unexpected character {c!r} where a key should be")
        self.pos = m.end()
        self._note("quoted a bare key")
        return m.group(0)

    def _read_array(self) -> list[Any]:
        self.pos += 1
        items: list[Any] = []
        after_comma = False
        while True:
            self._skip_space()
            if self._at_end():
                self.truncated = True
                return items
            c = self.s[self.pos]
            if c == "]":
                if after_comma:
                    self._note("removed a trailing comma")
                self.pos += 1
                return items
            if c == ",":
                self.pos += 1
                after_comma = True
                continue
            value = self.read_value()
            if value is not _MISSING:
                items.append(value)
            if self.truncated:
                return items
            after_comma = False

    def _closes_here(self, index: int) -> bool:
        """Whether the quote at ``index`` ends the string: what follows must be structure."""
        s = self.s
        k = index + 1
        while k < len(s) and s[k].isspace():
            k += 1
        if k >= len(s):
            return True
        c = s[k]
        if c in "}]:：":
            return True
        if c == ",":
            k += 1
            while k < len(s) and s[k].isspace():
                k += 1
            return (k >= len(s) or s[k] in _QUOTES + ",}]{[-+" or s[k].isdigit()
                    or _KEY_AHEAD_RE.match(s, k) is not None)
        # a missing comma: the next thing is one of the answer's keys
        return _KNOWN_KEY_AHEAD_RE.match(s, k) is not None

    def _read_string(self) -> str:
        s = self.s
        opener = s[self.pos]
        if opener == '"':
            closers = '"'
        else:
            closers = _SINGLE_QUOTES if opener in _SINGLE_QUOTES else _DOUBLE_QUOTES
            self._note("read a string in non-standard quotes")
        self.pos += 1
        out: list[str] = []
        while self.pos < len(s):
            c = s[self.pos]
            if c == "\\":
                out.append(self._read_escape())
                continue
            if c in closers and self._closes_here(self.pos):
                self.pos += 1
                return "".join(out)
            if c in closers:
                self._note("kept an unescaped quote inside a string")
            elif c in "\n\r\t":
                self._note("kept a raw line break inside a string")
            out.append(c)
            self.pos += 1
        self.truncated = True
        self._note("closed a string cut off at the end")
        return "".join(out)

    def _read_escape(self) -> str:
        s = self.s
        if self.pos + 1 >= len(s):
            self.pos += 1
            return ""
        code = s[self.pos + 1]
        simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
                  "t": "\t"}
        if code in simple:
            self.pos += 2
            return simple[code]
        if code == "u":
            digits = s[self.pos + 2:self.pos + 6]
            if len(digits) == 4 and all(ch in "0123456789abcdefABCDEF" for ch in digits):
                self.pos += 6
                point = int(digits, 16)
                if 0xD800 <= point < 0xDC00 and s.startswith("\\u", self.pos):
                    low = s[self.pos + 2:self.pos + 6]
                    if len(low) == 4 and all(ch in "0123456789abcdefABCDEF" for ch in low):
                        low_point = int(low, 16)
                        if 0xDC00 <= low_point < 0xE000:
                            self.pos += 6
                            return chr(0x10000 + ((point - 0xD800) << 10) + (low_point - 0xDC00))
                return chr(point)
        self._note("dropped an invalid escape")
        self.pos += 2
        return code

    def _read_number(self) -> Any:
        m = _NUMBER_RE.match(self.s, self.pos)
        if m is None:
            return _MISSING
        k = m.end()
        while k < len(self.s) and self.s[k] in " \t\r\n":
            k += 1
        if k < len(self.s) and self.s[k] not in ",}]" + _QUOTES:
            return _MISSING
        text = m.group(0).replace("−", "-")
        if text.startswith("+"):
            self._note("removed a leading '+' from a number")
            text = text[1:]
        self.pos = m.end()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        return float(text)

    def _read_bare(self) -> Any:
        s = self.s
        start = self.pos
        while self.pos < len(s) and s[self.pos] not in ",}]\n":
            self.pos += 1
        word = s[start:self.pos].strip()
        if self._at_end() and word in ("+", "-", "−"):
            self.truncated = True
            return _MISSING
        if not word:
            raise self._error(f"unexpected character {s[start]!r} where a value should be")
        literals = {"true": True, "false": False, "null": None, "none": None}
        if word.lower() in literals:
            if word not in ("true", "false", "null"):
                self._note("read a non-JSON literal")
            return literals[word.lower()]
        self._note("quoted a bare value")
        return word
