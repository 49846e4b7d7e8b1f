"""The bring-your-own parser's ``[extract]`` and ``[normalise]`` tables: an answer out of generated text.

**Extraction rules** (``[extract] FIELD = rule`` or a list of rules, tried in order; the first
that matches gives the value; text fields only):

- ``"json:KEY"``: ``KEY`` (a dotted path) of the first complete JSON object in the text.  The
  object is the span from the first ``{`` to the ``}`` that balances it, braces counted as
  characters (inside strings too), read with :func:`json.loads` after its line breaks are
  removed: the rule of ZeroEval's ``extract_first_complete_json``.  A text value is taken as it
  is, another value as its JSON text (``18``, ``[1, 2]``); a JSON ``null``, a missing key or an
  object that does not parse is no match.
- any other string: a Python regular expression, searched in the text; the value is its group
  named ``value``, else its first group, else the whole match.  A group that matched nothing
  gives an empty value (a match); a group that did not take part is no match.
- a table ``{regex = "...", models = "TEXT"}`` (or ``{json = "KEY", models = "TEXT"}``): the
  same rule, tried only on rows whose model name contains ``TEXT``.

A non-empty text that no rule matches is *unparsed*: its value is empty.  Nothing is evaluated:
a regular expression only selects text.

**Normalisers** (``[normalise] FIELD = "name"`` or a list, applied in order after extraction):

- ``first_number``: ZeroEval's math comparison (``math_eval.py``): remove ``$``, strip, remove
  ``,``; if the text holds ``/``, evaluate it as arithmetic with :func:`safe_arithmetic` and
  write the result as Python writes a float (``3/4`` -> ``0.75``), keeping the text when that
  fails; then the first number (``-?\\d+(\\.\\d+)?``), written canonically (``18``, ``0.75``)
  so that two texts are equal exactly when ZeroEval's ``float(a) == float(b)`` holds.  No
  number: empty (unparsed).
- ``choice_letter``: a single letter ``A``-``Z`` as it is (surrounding space stripped), else the
  letter of the first ``X)`` in the text, else the text unchanged (ZeroEval's ``mcqa_eval.py``
  credits an answer equal to the right letter or containing ``"<letter>)"``; the two differ only
  on an answer naming several ``X)``, where this takes the first).
- ``choice_label:PATH``: the letter (``A`` for the first) of the value's position in the list at
  ``PATH`` of the same row (e.g. ``choice_label:choices``); not in the list: empty.
- ``strip:CHARS`` / ``remove:CHARS``: strip these characters from both ends / delete every one.
- ``lower``; ``escape_newlines`` (a line break becomes the two characters ``\\n``).
"""
from __future__ import annotations

import ast
import json
import math
import operator
import re
from dataclasses import dataclass

from emergence.ingestion.schema import IngestError
from emergence.ingestion.sources._records import _step, MISSING

__all__ = ["Rule", "compile_rules", "apply_rules", "compile_normalisers", "normalise", "safe_arithmetic",
           "first_number", "first_json_object", "NORMALISERS"]

NORMALISERS = ("first_number", "choice_letter", "choice_label:PATH", "strip:CHARS", "remove:CHARS", "lower",
               "escape_newlines")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_BRACE = re.compile(r"[{}]")
_LETTER = re.compile(r"[A-Z]")
_LETTER_PAREN = re.compile(r"([A-Z])\)")


@dataclass(frozen=True)
class Rule:
    """One extraction rule: a compiled regex, or a JSON key path; optionally only for some models."""

    regex: re.Pattern | None = None
    json_key: str | None = None
    models: str | None = None
    text: str = ""                 # as written, for messages


# ----------------------------------------------------------------------------- safe arithmetic
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class _Refused(Exception):
    pass


def _arith(node):
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_arith(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _arith(node.left), _arith(node.right)
        if isinstance(node.op, ast.Pow):
            # a result beyond ~1e300 would not fit a float anyway: refuse before computing it
            if abs(right) > 1000 or (abs(left) > 1 and abs(right) * math.log10(abs(left)) > 300):
                raise _Refused
        return _BINOPS[type(node.op)](left, right)
    raise _Refused


def safe_arithmetic(text: str, max_len: int = 200) -> float | None:
    """The value of an arithmetic expression of number literals, or None; never executes anything.

    Parses with :func:`ast.parse` and evaluates only int and float literals with ``+ - * / // %
    **`` and unary ``+ -``; names, calls, strings, containers, booleans and complex numbers are
    refused (None), as is a text longer than ``max_len`` or a power too large for a float.  On
    the expressions it accepts it gives what Python's ``eval`` gives (this replaces the ``eval``
    in ZeroEval's ``sanitize_math_answers``, which would run any code an answer holds).

    Examples
    --------
    >>> safe_arithmetic("3/4"), safe_arithmetic("-(1+2)/4"), safe_arithmetic("__import__('os')")
    (0.75, -0.75, None)
    """
    text = text.strip()
    if not text or len(text) > max_len:
        return None
    try:
        value = _arith(ast.parse(text, mode="eval").body)
        return float(value)
    except (SyntaxError, ValueError, TypeError, ArithmeticError, RecursionError, MemoryError, _Refused):
        return None


def _canonical_number(x: float) -> str:
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def first_number(text: str) -> str | None:
    """ZeroEval's math answer: the first number after its sanitising (module docstring), canonical; None if none."""
    s = text.replace("$", "").strip().replace(",", "")
    if "/" in s:
        v = safe_arithmetic(s)
        if v is not None:
            s = str(v)
    m = _NUMBER.search(s)
    if m is None:
        return None
    try:
        return _canonical_number(float(m.group()))
    except (ValueError, OverflowError):
        return None


# ----------------------------------------------------------------------------- extraction
def first_json_object(text: str):
    """The first complete ``{...}`` span of ``text`` (braces counted naively), parsed; None if it does not parse."""
    depth, start = 0, None
    for m in _BRACE.finditer(text):
        if m.group() == "{":
            if depth == 0:
                start = m.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                try:
                    return json.loads(text[start:m.end()].replace("\n", ""))
                except (json.JSONDecodeError, RecursionError):
                    return None
    return None


def _as_text(v) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def compile_rules(spec, where: str, fld: str) -> list[Rule]:
    """``[extract]`` rules of one field; a bad rule raises :class:`IngestError` naming the mapping and field."""
    items = spec if isinstance(spec, list) else [spec]
    if not items:
        raise IngestError(where, "an [extract] entry needs at least one rule", field=f"extract.{fld}")
    rules = []
    for item in items:
        models = None
        if isinstance(item, dict):
            bad = sorted(set(item) - {"regex", "json", "models"})
            if bad or ("regex" in item) == ("json" in item):
                raise IngestError(where, "an [extract] table rule has either 'regex' or 'json', and optionally "
                                  "'models'", field=f"extract.{fld}", value=item)
            models = item.get("models")
            if models is not None and (not isinstance(models, str) or not models):
                raise IngestError(where, "'models' is the text a model name must contain", field=f"extract.{fld}",
                                  value=models)
            text = item["regex"] if "regex" in item else "json:" + str(item["json"])
        else:
            text = item
        if not isinstance(text, str) or not text:
            raise IngestError(where, "an extraction rule is a regular expression or 'json:KEY'",
                              field=f"extract.{fld}", value=text)
        if text.startswith("json:") and (not isinstance(item, dict) or "json" in item):
            key = text[5:]
            if not key:
                raise IngestError(where, "'json:' needs a key, e.g. json:answer", field=f"extract.{fld}", value=text)
            rules.append(Rule(json_key=key, models=models, text=text))
            continue
        try:
            rx = re.compile(text)
        except re.error as e:
            raise IngestError(where, f"not a valid regular expression: {e}", field=f"extract.{fld}", value=text) from e
        rules.append(Rule(regex=rx, models=models, text=text))
    return rules


def _apply(rule: Rule, text: str):
    if rule.json_key is not None:
        obj = first_json_object(text)
        if not isinstance(obj, (dict, list)):
            return None
        v = _step(obj, rule.json_key)
        return None if v is MISSING or v is None else _as_text(v)
    m = rule.regex.search(text)
    if m is None:
        return None
    if "value" in rule.regex.groupindex:
        return m.group("value")
    return m.group(1) if rule.regex.groups else m.group(0)


def apply_rules(rules: list[Rule], text: str, model: str | None = None) -> str | None:
    """The first rule's value on ``text`` (None: no rule matched, the text is unparsed)."""
    for rule in rules:
        if rule.models is not None and (model is None or rule.models not in model):
            continue
        v = _apply(rule, text)
        if v is not None:
            return v
    return None


# ----------------------------------------------------------------------------- normalisers
def compile_normalisers(spec, where: str, fld: str) -> list[tuple[str, str]]:
    """``[normalise]`` steps of one field as (name, argument) pairs; an unknown name is an error."""
    items = spec if isinstance(spec, list) else [spec]
    steps = []
    for item in items:
        if not isinstance(item, str):
            raise IngestError(where, f"a normaliser is one of {', '.join(NORMALISERS)}", field=f"normalise.{fld}",
                              value=item)
        name, sep, arg = item.partition(":")
        if name in ("first_number", "choice_letter", "lower", "escape_newlines") and not sep:
            steps.append((name, ""))
        elif name in ("choice_label", "strip", "remove") and sep and arg:
            steps.append((name, arg))
        else:
            raise IngestError(where, f"unknown normaliser; known: {', '.join(NORMALISERS)}",
                              field=f"normalise.{fld}", value=item)
    return steps


def _choice_letter(s: str) -> str:
    t = s.strip()
    if _LETTER.fullmatch(t):
        return t
    m = _LETTER_PAREN.search(s)
    return m.group(1) if m else s


def _choice_label(s: str, choices) -> str | None:
    if not isinstance(choices, (list, tuple)):
        return None
    texts = [c if isinstance(c, str) else _as_text(c) for c in choices]
    try:
        i = texts.index(s)
    except ValueError:
        return None
    return chr(ord("A") + i) if i < 26 else None


def normalise(value: str | None, steps: list[tuple[str, str]], row: dict | None = None) -> str | None:
    """Apply ``steps`` in order; None (or a step that finds nothing) gives None."""
    for name, arg in steps:
        if value is None:
            return None
        if name == "first_number":
            value = first_number(value)
        elif name == "choice_letter":
            value = _choice_letter(value)
        elif name == "choice_label":
            value = _choice_label(value, (row or {}).get(arg))
        elif name == "strip":
            value = value.strip(arg)
        elif name == "remove":
            value = value.translate({ord(c): None for c in arg})
        elif name == "lower":
            value = value.lower()
        elif name == "escape_newlines":
            value = value.replace("\n", "\\n")
    return value
