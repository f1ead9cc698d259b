"""A small OData v4 ``$filter`` parser and evaluator for the sandbox's Microsoft Graph endpoints.

The sandbox enforces what Graph enforces: each endpoint declares, per property, the operators it
supports (:class:`FilterRules`), and anything else is rejected with an :class:`ODataError` whose
``message`` is suitable for a Graph-style error body. Nothing unsupported is silently ignored.

Supported grammar (keywords and function names are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*            # only if rules.allow_or
    and_expr   := not_expr ("and" not_expr)*           # only if rules.allow_and
    not_expr   := "not" not_expr | primary             # only if rules.allow_not
    primary    := "(" or_expr ")" | function | lambda | comparison
    comparison := property ("eq"|"ne"|"gt"|"ge"|"lt"|"le") literal
    function   := ("startswith"|"endswith"|"contains") "(" property "," string ")"
    lambda     := collection "/any(" var ":" or_expr ")"   # inside: only var, only lambda_ops

``not`` applies to the following primary, so ``not a eq 'x'`` means ``not (a eq 'x')``.

Parsing compiles the tree once into nested closures, so :meth:`Filter.matches` is cheap per item.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "Comparison",
    "FieldSpec",
    "FieldType",
    "Filter",
    "FilterRules",
    "ODataError",
    "parse_datetime",
    "parse_filter",
    "quote",
]

FieldType = Literal["string", "datetime", "int", "bool", "guid", "enum", "string_collection"]

# Canonical order used when listing supported operators in error messages.
_OP_ORDER = ("eq", "ne", "gt", "ge", "lt", "le", "startswith", "endswith", "contains", "any")
_COMPARE_OPS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_FUNCTIONS = frozenset({"startswith", "endswith", "contains"})
_KEYWORDS = frozenset({"and", "or", "not"})
# Operators OData defines but this subset does not; named explicitly in the error.
_OTHER_OPS = frozenset({"has", "in", "add", "sub", "mul", "div", "divby", "mod"})


@dataclass(frozen=True)
class FieldSpec:
    """How one filterable property may be used: its type and the allowed operators."""

    type: FieldType
    ops: frozenset[str]
    # For "string_collection": the operators allowed inside the any() lambda.
    lambda_ops: frozenset[str] = frozenset()
    # String comparisons ignore case (Graph compares UPN/mail case-insensitively).
    case_insensitive: bool = True


@dataclass(frozen=True)
class FilterRules:
    """The filterable properties of one endpoint and which boolean operators it accepts."""

    fields: dict[str, FieldSpec]
    allow_and: bool = True
    allow_or: bool = False
    allow_not: bool = False


class ODataError(ValueError):
    """Raised for any unparsable or unsupported filter; .message is a sentence for the API error body."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Comparison:
    """One leaf condition with an already-typed value.

    ``op`` is a comparison operator or a function name (startswith/endswith/contains). For a
    condition inside a lambda, ``field`` is the collection property and ``in_lambda`` is True.
    """

    field: str
    op: str
    value: Any
    in_lambda: bool = False


# --------------------------------------------------------------------------------------------
# Datetimes

_DT_RE = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?([Zz]|[+-]\d{2}:?\d{2})?")


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 timestamp into a tz-aware UTC datetime.

    Accepts 'Z' or a numeric offset and any number of fractional digits (truncated to
    microseconds, so Graph's 7-digit "…41.6195833Z" works). A value without a zone is taken as UTC.
    """
    dt = _parse_instant(text)
    return dt if dt.tzinfo is UTC else dt.astimezone(UTC)


def _parse_instant(text: str) -> datetime:
    """Parse to a tz-aware datetime in whatever zone the text names (cheaper than converting)."""
    try:
        dt = datetime.fromisoformat(text)
    except (ValueError, TypeError):
        dt = _parse_datetime_slow(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def _parse_datetime_slow(text: str) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"Invalid datetime value: {text!r}")
    m = _DT_RE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"Invalid datetime value: {text!r}")
    date, time, frac, zone = m.groups()
    normalized = f"{date}T{time}"
    if frac:
        normalized += "." + frac[:6].ljust(6, "0")
    if zone:
        zone = zone.upper()
        if zone != "Z" and ":" not in zone:
            zone = f"{zone[:3]}:{zone[3:]}"
        normalized += "+00:00" if zone == "Z" else zone
    try:
        return datetime.fromisoformat(normalized)
    except ValueError:
        raise ValueError(f"Invalid datetime value: {text!r}") from None


# --------------------------------------------------------------------------------------------
# Tokens

_TOKEN_RE = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<lp>\()
    |(?P<rp>\))
    |(?P<comma>,)
    |(?P<colon>:)
    |(?P<string>'(?:[^']|'')*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2}))(?![\w.:+-])
    |(?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})(?![\w-])
    |(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.:-])
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)(?![\w/])
    """,
    re.VERBOSE,
)
_GUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_BAD_RUN_RE = re.compile(r"[^\s(),']+")

_LITERAL_KINDS = frozenset({"string", "datetime", "guid", "number"})


@dataclass(frozen=True)
class _Token:
    kind: str  # lp rp comma colon string datetime guid number ident eof
    text: str
    pos: int
    value: Any = None


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            _raise_bad_token(text, pos)
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind != "ws":
            value: Any = None
            if kind == "string":
                value = raw[1:-1].replace("''", "'")
            elif kind == "number":
                value = float(raw) if any(c in raw for c in ".eE") else int(raw)
            elif kind == "datetime":
                try:
                    value = parse_datetime(raw)
                except ValueError:
                    raise ODataError(f"Invalid datetime literal '{raw}' at position {pos}.", pos) from None
            elif kind == "guid":
                value = raw.lower()
            tokens.append(_Token(kind, raw, pos, value))
        pos = m.end()
    tokens.append(_Token("eof", "", n))
    return tokens


def _raise_bad_token(text: str, pos: int) -> None:
    if text[pos] == "'":
        raise ODataError(f"Unterminated string literal starting at position {pos}.", pos)
    m = _BAD_RUN_RE.match(text, pos)
    run = m.group(0) if m else text[pos]
    hint = ""
    if re.match(r"\d{4}-\d{2}-\d{2}", run):
        hint = " Datetime literals need a time and a zone, e.g. 2026-01-13T00:00:00Z."
    raise ODataError(f"Invalid token '{run}' at position {pos}.{hint}", pos)


# --------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True)
class _Target:
    """What a comparison reads: a property of the item, or the lambda variable."""

    name: str  # canonical property path (the collection's path inside a lambda)
    type: str  # element type inside a lambda
    case_insensitive: bool
    keys: tuple[str, ...] | None  # None: the lambda variable itself
    in_lambda: bool


@dataclass(frozen=True)
class _Cmp:
    target: _Target
    comparison: Comparison


@dataclass(frozen=True)
class _And:
    children: tuple[_Node, ...]


@dataclass(frozen=True)
class _Or:
    children: tuple[_Node, ...]


@dataclass(frozen=True)
class _Not:
    child: _Node


@dataclass(frozen=True)
class _Any:
    field: str
    keys: tuple[str, ...]
    body: _Node


_Node = _Cmp | _And | _Or | _Not | _Any


@dataclass
class _LambdaScope:
    var: str
    field: str
    spec: FieldSpec


def _describe(tok: _Token) -> str:
    if tok.kind == "eof":
        return "end of filter"
    if tok.kind == "string":
        return f"string {tok.text}"
    if tok.kind in _LITERAL_KINDS:
        return f"{tok.kind} {tok.text}"
    return f"'{tok.text}'"


def _supported(ops: frozenset[str]) -> str:
    listed = [op for op in _OP_ORDER if op in ops]
    return ", ".join(listed) if listed else "none"


class _Parser:
    def __init__(self, tokens: list[_Token], rules: FilterRules):
        self.tokens = tokens
        self.i = 0
        self.rules = rules
        self.by_lower = {name.lower(): name for name in rules.fields}
        self.scope: _LambdaScope | None = None

    # -- token helpers
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    @staticmethod
    def is_kw(tok: _Token, word: str) -> bool:
        return tok.kind == "ident" and tok.text.lower() == word

    def expect(self, kind: str, what: str) -> _Token:
        tok = self.peek()
        if tok.kind != kind:
            raise ODataError(f"Expected {what} at position {tok.pos}, found {_describe(tok)}.", tok.pos)
        return self.advance()

    def close_paren(self, open_tok: _Token) -> None:
        tok = self.peek()
        if tok.kind != "rp":
            raise ODataError(
                f"Unbalanced parentheses: '(' at position {open_tok.pos} is not closed "
                f"(found {_describe(tok)} at position {tok.pos}).",
                tok.pos,
            )
        self.advance()

    # -- grammar
    def parse(self) -> _Node:
        if self.peek().kind == "eof":
            raise ODataError("The $filter expression is empty.", 0)
        node = self.or_expr()
        tok = self.peek()
        if tok.kind == "rp":
            raise ODataError(f"Unbalanced parentheses: unexpected ')' at position {tok.pos}.", tok.pos)
        if tok.kind != "eof":
            raise ODataError(
                f"Unexpected {_describe(tok)} at position {tok.pos}; expected 'and', 'or' or the end "
                "of the filter.",
                tok.pos,
            )
        return node

    def or_expr(self) -> _Node:
        children = [self.and_expr()]
        while self.is_kw(self.peek(), "or"):
            tok = self.advance()
            if not self.rules.allow_or:
                raise ODataError(
                    f"The 'or' operator (position {tok.pos}) is not supported in this filter.", tok.pos
                )
            children.append(self.and_expr())
        return children[0] if len(children) == 1 else _Or(tuple(children))

    def and_expr(self) -> _Node:
        children = [self.not_expr()]
        while self.is_kw(self.peek(), "and"):
            tok = self.advance()
            if not self.rules.allow_and:
                raise ODataError(
                    f"The 'and' operator (position {tok.pos}) is not supported in this filter.", tok.pos
                )
            children.append(self.not_expr())
        return children[0] if len(children) == 1 else _And(tuple(children))

    def not_expr(self) -> _Node:
        tok = self.peek()
        if self.is_kw(tok, "not"):
            self.advance()
            if not self.rules.allow_not:
                raise ODataError(
                    f"The 'not' operator (position {tok.pos}) is not supported in this filter.", tok.pos
                )
            return _Not(self.not_expr())
        return self.primary()

    def primary(self) -> _Node:
        tok = self.peek()
        if tok.kind == "lp":
            self.advance()
            node = self.or_expr()
            self.close_paren(tok)
            return node
        if tok.kind == "rp":
            raise ODataError(
                f"Unbalanced parentheses: unexpected ')' at position {tok.pos}; expected a condition.",
                tok.pos,
            )
        if tok.kind == "eof":
            raise ODataError(
                f"Unexpected end of filter at position {tok.pos}; expected a condition.", tok.pos
            )
        if tok.kind in _LITERAL_KINDS or (
            tok.kind == "ident" and tok.text.lower() in ("true", "false", "null")
        ):
            raise ODataError(
                f"The left side of a comparison must be a property; found {_describe(tok)} at position "
                f"{tok.pos}.",
                tok.pos,
            )
        if tok.kind != "ident":
            raise ODataError(f"Unexpected {_describe(tok)} at position {tok.pos}.", tok.pos)
        if tok.text.lower() in _KEYWORDS:
            raise ODataError(
                f"Unexpected keyword '{tok.text}' at position {tok.pos}; expected a condition.", tok.pos
            )
        if self.peek(1).kind == "lp":
            lowered = tok.text.lower()
            if lowered in _FUNCTIONS:
                return self.function()
            head, _, last = tok.text.rpartition("/")
            if head and last.lower() in ("any", "all"):
                return self.lambda_expr()
            raise ODataError(f"Unsupported function '{tok.text}' at position {tok.pos}.", tok.pos)
        return self.comparison()

    # -- properties
    def resolve(self, tok: _Token) -> tuple[_Target, FieldSpec | None]:
        """Map a property token to its target; the spec is None for the lambda variable."""
        if self.scope is not None:
            if tok.text != self.scope.var:
                raise ODataError(
                    f"Only the lambda variable '{self.scope.var}' can be used inside "
                    f"'{self.scope.field}/any'; found '{tok.text}' at position {tok.pos}.",
                    tok.pos,
                )
            spec = self.scope.spec
            target = _Target(self.scope.field, "string", spec.case_insensitive, None, True)
            return target, None
        name, spec = self.lookup(tok.text, tok.pos)
        return _Target(name, spec.type, spec.case_insensitive, tuple(name.split("/")), False), spec

    def lookup(self, text: str, pos: int) -> tuple[str, FieldSpec]:
        name = text if text in self.rules.fields else self.by_lower.get(text.lower())
        if name is None:
            raise ODataError(f"Unsupported or invalid filter property '{text}'.", pos)
        return name, self.rules.fields[name]

    def check_op(self, target: _Target, spec: FieldSpec | None, op: str, pos: int) -> None:
        if spec is None:  # lambda variable
            assert self.scope is not None
            allowed = self.scope.spec.lambda_ops
            if op not in allowed:
                raise ODataError(
                    f"Unsupported filter operator '{op}' inside '{target.name}/any'. "
                    f"Supported: {_supported(allowed)}.",
                    pos,
                )
            return
        if spec.type == "string_collection":
            raise ODataError(
                f"Property '{target.name}' is a collection; filter it with a lambda such as "
                f"{target.name}/any(p: p eq 'value').",
                pos,
            )
        if op not in spec.ops:
            raise ODataError(
                f"Unsupported filter operator '{op}' for property '{target.name}'. "
                f"Supported: {_supported(spec.ops)}.",
                pos,
            )

    # -- conditions
    def comparison(self) -> _Node:
        prop = self.advance()
        target, spec = self.resolve(prop)
        op_tok = self.peek()
        op = op_tok.text.lower() if op_tok.kind == "ident" else ""
        if op in _OTHER_OPS:
            raise ODataError(f"Unsupported operator '{op_tok.text}' at position {op_tok.pos}.", op_tok.pos)
        if op not in _COMPARE_OPS:
            raise ODataError(
                f"Expected a comparison operator (eq, ne, gt, ge, lt, le) after '{prop.text}' at position "
                f"{op_tok.pos}, found {_describe(op_tok)}.",
                op_tok.pos,
            )
        self.advance()
        self.check_op(target, spec, op, op_tok.pos)
        value = self.literal(target, op, prop.text)
        return _Cmp(target, Comparison(target.name, op, value, target.in_lambda))

    def literal(self, target: _Target, op: str, shown: str) -> Any:
        tok = self.advance()
        kind = tok.kind
        word = tok.text.lower() if kind == "ident" else ""
        if word == "null":
            if op not in ("eq", "ne"):
                raise ODataError(
                    f"null can only be compared with eq or ne (property '{target.name}', "
                    f"position {tok.pos}).",
                    tok.pos,
                )
            return None
        ftype = target.type
        if ftype in ("string", "enum") and kind == "string":
            return tok.value
        if ftype == "datetime" and kind == "datetime":
            return tok.value
        if ftype == "int" and kind == "number":
            return tok.value
        if ftype == "bool" and word in ("true", "false"):
            return word == "true"
        if ftype == "guid":
            if kind == "guid":
                return tok.value
            if kind == "string" and _GUID_RE.fullmatch(tok.value):
                return tok.value.lower()
        if kind not in _LITERAL_KINDS and word not in ("true", "false"):
            raise ODataError(
                f"Expected a literal value after '{shown} {op}' at position {tok.pos}, found "
                f"{_describe(tok)}.",
                tok.pos,
            )
        expected = {
            "string": "a quoted string such as 'value'",
            "enum": "a quoted enum value such as 'value'",
            "datetime": "an unquoted datetime such as 2026-01-13T00:00:00Z",
            "int": "a number",
            "bool": "true or false",
            "guid": "a GUID such as 26be570a-ae24-4ae3-b6a3-f0a5e7f7b4e0",
        }[ftype]
        raise ODataError(
            f"Type mismatch for property '{target.name}' ({ftype}): expected {expected}, found "
            f"{_describe(tok)} at position {tok.pos}.",
            tok.pos,
        )

    def function(self) -> _Node:
        fn_tok = self.advance()
        fn = fn_tok.text.lower()
        open_tok = self.advance()  # "("
        prop = self.peek()
        if prop.kind != "ident" or prop.text.lower() in ("true", "false", "null"):
            raise ODataError(
                f"The first argument of {fn}() must be a property; found {_describe(prop)} at position "
                f"{prop.pos}.",
                prop.pos,
            )
        self.advance()
        target, spec = self.resolve(prop)
        if spec is not None and spec.type not in ("string", "string_collection"):
            raise ODataError(
                f"Function '{fn}' requires a string property; '{target.name}' is {spec.type}.", prop.pos
            )
        self.check_op(target, spec, fn, fn_tok.pos)
        self.expect("comma", f"',' after the property in {fn}()")
        arg = self.peek()
        if arg.kind != "string":
            raise ODataError(
                f"Type mismatch for property '{target.name}' in {fn}(): expected a quoted string, found "
                f"{_describe(arg)} at position {arg.pos}.",
                arg.pos,
            )
        self.advance()
        self.close_paren(open_tok)
        return _Cmp(target, Comparison(target.name, fn, arg.value, target.in_lambda))

    def lambda_expr(self) -> _Node:
        tok = self.advance()
        head, _, kind = tok.text.rpartition("/")
        if kind.lower() != "any":
            raise ODataError(
                f"Lambda operator '{kind}' is not supported (position {tok.pos}); only 'any' is.", tok.pos
            )
        if self.scope is not None:
            raise ODataError(f"Nested lambda expressions are not supported (position {tok.pos}).", tok.pos)
        name, spec = self.lookup(head, tok.pos)
        if spec.type != "string_collection":
            raise ODataError(
                f"Lambda operator 'any' is not supported for property '{name}': it is not a collection.",
                tok.pos,
            )
        if "any" not in spec.ops:
            raise ODataError(
                f"Unsupported filter operator 'any' for property '{name}'. "
                f"Supported: {_supported(spec.ops)}.",
                tok.pos,
            )
        open_tok = self.advance()  # "("
        var = self.peek()
        if var.kind == "rp":
            raise ODataError(
                f"An empty any() is not supported (position {var.pos}); use {name}/any(p: p eq 'value').",
                var.pos,
            )
        if var.kind != "ident" or "/" in var.text or var.text.lower() in _KEYWORDS:
            raise ODataError(
                f"Expected a lambda variable name at position {var.pos}, found {_describe(var)}.", var.pos
            )
        self.advance()
        self.expect("colon", f"':' after the lambda variable '{var.text}'")
        self.scope = _LambdaScope(var.text, name, spec)
        try:
            body = self.or_expr()
        finally:
            self.scope = None
        self.close_paren(open_tok)
        return _Any(name, tuple(name.split("/")), body)


# --------------------------------------------------------------------------------------------
# Compilation to closures

_Pred = Callable[[Any], bool]

_BINARY: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "startswith": str.startswith,
    "endswith": str.endswith,
    "contains": operator.contains,
}


def _getter(keys: tuple[str, ...] | None) -> Callable[[Any], Any]:
    if keys is None:
        return lambda item: item
    if len(keys) == 1:
        key = keys[0]

        def get_one(item: Any) -> Any:
            return item.get(key) if isinstance(item, dict) else None

        return get_one

    def get_path(item: Any) -> Any:
        cur = item
        for k in keys:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(k)
        return cur

    return get_path


def _to_folded(v: Any) -> str | None:
    if v is None:
        return None
    return (v if isinstance(v, str) else str(v)).lower()


def _to_str(v: Any) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else str(v)


def _to_datetime(v: Any) -> datetime | None:
    if isinstance(v, str):
        return _parse_instant(v) if v else None
    if isinstance(v, datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)
    return None


def _to_number(v: Any) -> int | float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return v
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return None
    return None


def _to_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return None


def _compile_cmp(node: _Cmp) -> _Pred:
    target, cmp = node.target, node.comparison
    get = _getter(target.keys)
    op, lit = cmp.op, cmp.value
    if lit is None:  # eq/ne null test the raw value
        if op == "eq":
            return lambda item: get(item) is None
        return lambda item: get(item) is not None

    ftype = target.type
    folded = ftype in ("enum", "guid") or (ftype == "string" and target.case_insensitive)
    coerce: Callable[[Any], Any]
    if folded:
        coerce, lit = _to_folded, lit.lower()
    elif ftype == "string":
        coerce = _to_str
    elif ftype == "datetime":
        coerce = _to_datetime
    elif ftype == "int":
        coerce = _to_number
    elif ftype == "bool":
        coerce = _to_bool
    else:  # pragma: no cover - parse() only builds the types above
        raise AssertionError(ftype)
    fn = _BINARY[op]
    missing = op == "ne"  # a null value is "not equal" to any literal and fails everything else

    if folded and op == "eq":  # fast path for the most common filter

        def eq_folded(item: Any) -> bool:
            v = get(item)
            if v is None:
                return False
            return (v if v.__class__ is str else str(v)).lower() == lit

        return eq_folded

    def pred(item: Any) -> bool:
        v = coerce(get(item))
        if v is None:
            return missing
        return fn(v, lit)

    return pred


def _compile(node: _Node) -> _Pred:
    if isinstance(node, _Cmp):
        return _compile_cmp(node)
    if isinstance(node, _Not):
        child = _compile(node.child)
        return lambda item: not child(item)
    if isinstance(node, _And | _Or):
        preds = tuple(_compile(c) for c in node.children)
        is_and = isinstance(node, _And)
        if len(preds) == 2:
            a, b = preds
            if is_and:
                return lambda item: a(item) and b(item)
            return lambda item: a(item) or b(item)
        if is_and:
            return lambda item: all(p(item) for p in preds)
        return lambda item: any(p(item) for p in preds)
    if isinstance(node, _Any):
        get = _getter(node.keys)
        body = _compile(node.body)

        def any_pred(item: Any) -> bool:
            coll = get(item)
            if not isinstance(coll, list | tuple | set | frozenset):
                return False
            return any(body(e) for e in coll)

        return any_pred
    raise AssertionError(node)  # pragma: no cover


def _walk(node: _Node) -> list[_Node]:
    out: list[_Node] = [node]
    if isinstance(node, _And | _Or):
        for c in node.children:
            out.extend(_walk(c))
    elif isinstance(node, _Not):
        out.extend(_walk(node.child))
    elif isinstance(node, _Any):
        out.extend(_walk(node.body))
    return out


# --------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class Filter:
    """A parsed, compiled $filter. Build it with :func:`parse_filter`."""

    text: str
    _root: _Node = field(repr=False, compare=False)
    _predicate: _Pred = field(repr=False, compare=False)

    def matches(self, item: dict) -> bool:
        """True when the item satisfies the filter."""
        return bool(self._predicate(item))

    def fields_used(self) -> set[str]:
        """Canonical property paths the filter refers to (collections of lambdas included)."""
        used: set[str] = set()
        for n in _walk(self._root):
            if isinstance(n, _Cmp):
                used.add(n.comparison.field)
            elif isinstance(n, _Any):
                used.add(n.field)
        return used

    def comparisons(self) -> list[Comparison]:
        """All leaf comparisons in source order, including those under not/or/any()."""
        return [n.comparison for n in _walk(self._root) if isinstance(n, _Cmp)]

    def and_terms(self) -> list[Comparison] | None:
        """The leaf comparisons when the filter is a pure conjunction of comparisons, else None."""
        terms: list[Comparison] = []
        stack: list[_Node] = [self._root]
        while stack:
            n = stack.pop()
            if isinstance(n, _And):
                stack.extend(reversed(n.children))
            elif isinstance(n, _Cmp) and not n.comparison.in_lambda:
                terms.append(n.comparison)
            else:
                return None
        return terms


def parse_filter(text: str, rules: FilterRules) -> Filter:
    """Parse and validate a (URL-decoded) $filter against the rules; raises ODataError."""
    if not isinstance(text, str):
        raise ODataError("The $filter expression must be a string.", None)
    root = _Parser(_tokenize(text), rules).parse()
    return Filter(text, root, _compile(root))


def quote(value: str) -> str:
    """Render an OData string literal: "o'brien" -> "'o''brien'"."""
    if not isinstance(value, str):
        raise TypeError(f"quote() expects a str, got {type(value).__name__}")
    return "'" + value.replace("'", "''") + "'"
