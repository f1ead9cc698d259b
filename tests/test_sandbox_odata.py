"""Tests for the sandbox's OData $filter parser/evaluator (toolkit/sandbox/odata.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from toolkit.sandbox.odata import (
    Comparison,
    FieldSpec,
    Filter,
    FilterRules,
    ODataError,
    parse_datetime,
    parse_filter,
    quote,
)

ALL_CMP = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})

FIELDS: dict[str, FieldSpec] = {
    "id": FieldSpec("string", frozenset({"eq"})),
    "userPrincipalName": FieldSpec("string", frozenset({"eq", "startswith"})),
    "mail": FieldSpec("string", frozenset({"eq", "ne", "startswith", "endswith", "contains"})),
    "displayName": FieldSpec("string", ALL_CMP | {"startswith"}, case_insensitive=False),
    "createdDateTime": FieldSpec("datetime", ALL_CMP),
    "location/countryOrRegion": FieldSpec("string", frozenset({"eq", "ne"})),
    "status/errorCode": FieldSpec("int", ALL_CMP),
    "accountEnabled": FieldSpec("bool", frozenset({"eq", "ne"})),
    "userId": FieldSpec("guid", frozenset({"eq", "ne"})),
    "riskLevel": FieldSpec("enum", frozenset({"eq", "ne"})),
    "proxyAddresses": FieldSpec("string_collection", frozenset({"any"}), frozenset({"eq", "startswith"})),
    "otherMails": FieldSpec("string_collection", frozenset(), frozenset({"eq"})),
}

AND_ONLY = FilterRules(FIELDS)
FULL = FilterRules(FIELDS, allow_and=True, allow_or=True, allow_not=True)
NO_AND = FilterRules(FIELDS, allow_and=False)

GUID_A = "26be570a-ae24-4ae3-b6a3-f0a5e7f7b4e0"
GUID_B = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

ITEMS: list[dict] = [
    {
        "id": "alice",
        "userPrincipalName": "Alice@Contoso.com",
        "mail": "alice@contoso.com",
        "displayName": "Alice Smith",
        "createdDateTime": "2026-01-12T23:59:59.9999999Z",
        "location": {"countryOrRegion": "US"},
        "status": {"errorCode": 0},
        "accountEnabled": True,
        "userId": GUID_A.upper(),
        "riskLevel": "high",
        "proxyAddresses": ["SMTP:alice@contoso.com", "smtp:al@contoso.com"],
    },
    {
        "id": "obrien",
        "userPrincipalName": "o'brien@contoso.com",
        "mail": "o'brien@fabrikam.com",
        "displayName": "bob O'Brien",
        "createdDateTime": "2026-01-13T00:00:00Z",
        "location": {"countryOrRegion": "IE"},
        "status": {"errorCode": 50126},
        "accountEnabled": False,
        "userId": GUID_B,
        "riskLevel": "none",
        "proxyAddresses": ["x500:/o=ExchangeLabs/cn=obrien"],
    },
    {
        "id": "admin",
        "userPrincipalName": "admin@contoso.com",
        "mail": None,
        "displayName": "Carol Admin",
        "createdDateTime": "2026-01-13T10:30:00.5+02:00",  # 08:30:00.5 UTC
        "location": {},
        "status": {"errorCode": -1},
        "accountEnabled": True,
        "riskLevel": "Medium",
        "proxyAddresses": [],
    },
    {
        "id": "dave",
        "userPrincipalName": "dave@fabrikam.com",
        "displayName": "Dave",
        "createdDateTime": "2026-01-14T01:00:00.1234567-05:00",  # 06:00:00.123456 UTC
        "location": None,
        "status": {"errorCode": 53003},
        "accountEnabled": False,
        "userId": None,
        "riskLevel": "HIGH",
    },
]


def ids(text: str, rules: FilterRules = FULL) -> list[str]:
    f = parse_filter(text, rules)
    return [item["id"] for item in ITEMS if f.matches(item)]


def reject(text: str, rules: FilterRules = FULL) -> ODataError:
    with pytest.raises(ODataError) as info:
        parse_filter(text, rules)
    return info.value


# --- matching per operator and type -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # strings: case-insensitive by default
        ("userPrincipalName eq 'alice@contoso.com'", ["alice"]),
        ("userPrincipalName eq 'ADMIN@CONTOSO.COM'", ["admin"]),
        ("startswith(userPrincipalName, 'ALICE')", ["alice"]),
        ("startsWith(userPrincipalName,'o''')", ["obrien"]),
        ("STARTSWITH( userPrincipalName , 'nobody' )", []),
        ("endswith(mail, '@FABRIKAM.com')", ["obrien"]),
        ("contains(mail, 'CONTOSO')", ["alice"]),
        ("mail ne 'alice@contoso.com'", ["obrien", "admin", "dave"]),
        ("mail eq null", ["admin", "dave"]),
        ("mail ne null", ["alice", "obrien"]),
        # case-sensitive string field with ordering operators
        ("displayName eq 'alice smith'", []),
        ("displayName eq 'Alice Smith'", ["alice"]),
        ("startswith(displayName, 'bob')", ["obrien"]),
        ("startswith(displayName, 'Bob')", []),
        ("displayName ge 'C'", ["obrien", "admin", "dave"]),
        ("displayName lt 'Carol'", ["alice"]),
        # nested paths; a missing parent or key is null
        ("location/countryOrRegion eq 'us'", ["alice"]),
        ("location/countryOrRegion ne 'US'", ["obrien", "admin", "dave"]),
        ("location/countryOrRegion eq null", ["admin", "dave"]),
        ("LOCATION/COUNTRYORREGION eq 'IE'", ["obrien"]),
        # ints, including negatives and decimals
        ("status/errorCode eq 0", ["alice"]),
        ("status/errorCode ne 0", ["obrien", "admin", "dave"]),
        ("status/errorCode gt 50126", ["dave"]),
        ("status/errorCode ge 50126", ["obrien", "dave"]),
        ("status/errorCode lt 0", ["admin"]),
        ("status/errorCode le -1", ["admin"]),
        ("status/errorCode gt -2", ["alice", "obrien", "admin", "dave"]),
        ("status/errorCode lt 0.5", ["alice", "admin"]),
        # bools
        ("accountEnabled eq true", ["alice", "admin"]),
        ("accountEnabled eq FALSE", ["obrien", "dave"]),
        ("accountEnabled ne true", ["obrien", "dave"]),
        # guids: unquoted or quoted, case-insensitive
        (f"userId eq {GUID_A}", ["alice"]),
        (f"userId eq '{GUID_A}'", ["alice"]),
        (f"userId eq {GUID_B.upper()}", ["obrien"]),
        (f"userId ne {GUID_A}", ["obrien", "admin", "dave"]),
        ("userId eq null", ["admin", "dave"]),
        # enums compare case-insensitively as strings
        ("riskLevel eq 'high'", ["alice", "dave"]),
        ("riskLevel eq 'MEDIUM'", ["admin"]),
        ("riskLevel ne 'none'", ["alice", "admin", "dave"]),
        # keywords and operators are case-insensitive; whitespace is flexible
        ("userPrincipalName EQ 'dave@fabrikam.com'", ["dave"]),
        ("  ( userPrincipalName eq 'dave@fabrikam.com' )  ", ["dave"]),
    ],
)
def test_operator_matching(text: str, expected: list[str]) -> None:
    assert ids(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("createdDateTime ge 2026-01-13T00:00:00Z", ["obrien", "admin", "dave"]),
        ("createdDateTime gt 2026-01-13T00:00:00Z", ["admin", "dave"]),
        ("createdDateTime lt 2026-01-13T00:00:00Z", ["alice"]),
        ("createdDateTime le 2026-01-13T00:00:00Z", ["alice", "obrien"]),
        ("createdDateTime eq 2026-01-13T00:00:00Z", ["obrien"]),
        ("createdDateTime ne 2026-01-13T00:00:00Z", ["alice", "admin", "dave"]),
        # alice's 7-digit "23:59:59.9999999Z" is truncated to .999999, still before midnight
        ("createdDateTime ge 2026-01-12T23:59:59.999999Z", ["alice", "obrien", "admin", "dave"]),
        ("createdDateTime gt 2026-01-12T23:59:59.999999Z", ["obrien", "admin", "dave"]),
        # offsets in the literal: 02:00+02:00 is midnight UTC
        ("createdDateTime eq 2026-01-13T02:00:00+02:00", ["obrien"]),
        ("createdDateTime eq 2026-01-12T19:00:00-05:00", ["obrien"]),
        # offsets in the item: admin is 08:30:00.5 UTC, dave is 06:00:00.123456 UTC on the 14th
        ("createdDateTime eq 2026-01-13T08:30:00.5Z", ["admin"]),
        ("createdDateTime eq 2026-01-13T08:30:00.500Z", ["admin"]),
        ("createdDateTime gt 2026-01-14T06:00:00.123Z", ["dave"]),
        ("createdDateTime eq 2026-01-14T06:00:00.123456Z", ["dave"]),
        ("createdDateTime eq 2026-01-14T06:00:00.1234567Z", ["dave"]),
        (
            "createdDateTime ge 2026-01-13T00:00:00Z and createdDateTime lt 2026-01-14T00:00:00Z",
            ["obrien", "admin"],
        ),
    ],
)
def test_datetime_matching(text: str, expected: list[str]) -> None:
    assert ids(text) == expected


def test_datetime_item_values_may_be_datetime_objects_or_missing() -> None:
    f = parse_filter("createdDateTime ge 2026-01-13T00:00:00Z", FULL)
    assert f.matches({"createdDateTime": datetime(2026, 1, 13, tzinfo=UTC)})
    assert f.matches({"createdDateTime": datetime(2026, 1, 13)})  # naive is taken as UTC
    assert not f.matches({"createdDateTime": datetime(2026, 1, 12, 23, 0)})
    assert not f.matches({"createdDateTime": None})
    assert not f.matches({})


# --- lambdas ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("proxyAddresses/any(p: p eq 'smtp:alice@contoso.com')", ["alice"]),
        ("proxyAddresses/any(p:p eq 'SMTP:AL@contoso.com')", ["alice"]),
        ("proxyAddresses/any(p:startswith(p, 'x500:'))", ["obrien"]),
        ("proxyAddresses/any(x: startsWith(x,'smtp:'))", ["alice"]),
        ("proxyAddresses/ANY(p: p eq 'nobody@contoso.com')", []),
        ("proxyAddresses/any(p: p eq 'smtp:al@contoso.com' or startswith(p, 'x500'))", ["alice", "obrien"]),
        (
            "userPrincipalName eq 'alice@contoso.com' and proxyAddresses/any(p: p eq 'smtp:al@contoso.com')",
            ["alice"],
        ),
    ],
)
def test_lambda_any(text: str, expected: list[str]) -> None:
    assert ids(text) == expected


def test_lambda_ignores_missing_or_non_list_collections() -> None:
    f = parse_filter("proxyAddresses/any(p: p eq 'smtp:a@b.com')", FULL)
    assert f.matches({"proxyAddresses": ["smtp:a@b.com"]})
    assert f.matches({"proxyAddresses": ("SMTP:A@B.COM",)})
    assert not f.matches({"proxyAddresses": "smtp:a@b.com"})
    assert not f.matches({"proxyAddresses": None})
    assert not f.matches({})


# --- and / or / not and precedence ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # and binds tighter than or: A or (B and C)
        ("id eq 'alice' or id eq 'obrien' and accountEnabled eq true", ["alice"]),
        ("(id eq 'alice' or id eq 'obrien') and accountEnabled eq true", ["alice"]),
        ("(id eq 'alice' or id eq 'obrien') and accountEnabled eq false", ["obrien"]),
        ("id eq 'obrien' and accountEnabled eq false or id eq 'dave'", ["obrien", "dave"]),
        ("id eq 'obrien' and (accountEnabled eq true or id eq 'dave')", []),
        # not binds tighter than and/or
        ("not accountEnabled eq true and status/errorCode gt 0", ["obrien", "dave"]),
        ("not (accountEnabled eq true and status/errorCode ge 0)", ["obrien", "admin", "dave"]),
        ("not accountEnabled eq true or id eq 'alice'", ["alice", "obrien", "dave"]),
        ("not not id eq 'alice'", ["alice"]),
        ("not startswith(userPrincipalName, 'a')", ["obrien", "dave"]),
        ("NOT(id eq 'dave')", ["alice", "obrien", "admin"]),
        ("id eq 'alice' OR id eq 'admin' Or id eq 'dave'", ["alice", "admin", "dave"]),
        (
            "status/errorCode ge 0 and status/errorCode lt 60000 and accountEnabled eq false",
            ["obrien", "dave"],
        ),
    ],
)
def test_boolean_precedence(text: str, expected: list[str]) -> None:
    assert ids(text) == expected


# --- quoting and injection --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "literal"),
    [
        ("o'brien", "'o''brien'"),
        ("plain", "'plain'"),
        ("", "''"),
        ("''", "''''''"),
    ],
)
def test_quote(raw: str, literal: str) -> None:
    assert quote(raw) == literal
    f = parse_filter(f"id eq {literal}", FULL)
    assert f.comparisons() == [Comparison("id", "eq", raw)]


def test_doubled_quote_is_a_quote_in_the_value() -> None:
    assert ids("userPrincipalName eq 'o''brien@contoso.com'") == ["obrien"]
    assert ids(f"userPrincipalName eq {quote(chr(39).join(['o', 'brien@contoso.com']))}") == ["obrien"]


@pytest.mark.parametrize("rules", [FULL, AND_ONLY])
def test_injection_attempt_stays_one_literal(rules: FilterRules) -> None:
    value = "x' or userPrincipalName eq 'admin@contoso.com"
    text = f"userPrincipalName eq {quote(value)}"
    f = parse_filter(text, rules)
    assert f.comparisons() == [Comparison("userPrincipalName", "eq", value)]
    assert [item["id"] for item in ITEMS if f.matches(item)] == []
    assert f.matches({"userPrincipalName": value})
    assert not f.matches({"userPrincipalName": "admin@contoso.com"})


def test_unescaped_injection_is_parsed_as_or_and_rejected_without_or() -> None:
    text = "userPrincipalName eq 'x' or userPrincipalName eq 'admin@contoso.com'"
    assert ids(text, FULL) == ["admin"]
    assert "'or'" in reject(text, AND_ONLY).message


# --- introspection ----------------------------------------------------------------------------


def test_comparisons_and_terms_give_typed_values() -> None:
    f = parse_filter(
        "createdDateTime ge 2026-01-13T00:00:00+02:00 and createdDateTime lt 2026-01-14T00:00:00Z "
        f"and status/errorCode eq 50126 and accountEnabled eq false and userId eq {GUID_A.upper()} "
        "and startswith(userPrincipalName, 'Al')",
        AND_ONLY,
    )
    expected = [
        Comparison("createdDateTime", "ge", datetime(2026, 1, 12, 22, tzinfo=UTC)),
        Comparison("createdDateTime", "lt", datetime(2026, 1, 14, tzinfo=UTC)),
        Comparison("status/errorCode", "eq", 50126),
        Comparison("accountEnabled", "eq", False),
        Comparison("userId", "eq", GUID_A),
        Comparison("userPrincipalName", "startswith", "Al"),
    ]
    assert f.comparisons() == expected
    assert f.and_terms() == expected
    assert f.comparisons()[0].value.tzinfo is UTC
    assert f.fields_used() == {
        "createdDateTime",
        "status/errorCode",
        "accountEnabled",
        "userId",
        "userPrincipalName",
    }


@pytest.mark.parametrize(
    "text",
    [
        "id eq 'a' or id eq 'b'",
        "not id eq 'a'",
        "id eq 'a' and not id eq 'b'",
        "id eq 'a' and proxyAddresses/any(p: p eq 'x')",
        "proxyAddresses/any(p: p eq 'x')",
    ],
)
def test_and_terms_is_none_unless_pure_conjunction(text: str) -> None:
    assert parse_filter(text, FULL).and_terms() is None


def test_and_terms_flattens_parenthesized_conjunctions() -> None:
    f = parse_filter("(id eq 'a' and (mail eq 'b')) and status/errorCode gt 1", FULL)
    assert f.and_terms() == [
        Comparison("id", "eq", "a"),
        Comparison("mail", "eq", "b"),
        Comparison("status/errorCode", "gt", 1),
    ]


def test_introspection_of_lambdas_and_canonical_field_names() -> None:
    f = parse_filter("USERPRINCIPALNAME eq 'a' or proxyAddresses/any(p: startswith(p, 'smtp:'))", FULL)
    assert f.fields_used() == {"userPrincipalName", "proxyAddresses"}
    assert f.comparisons() == [
        Comparison("userPrincipalName", "eq", "a"),
        Comparison("proxyAddresses", "startswith", "smtp:", in_lambda=True),
    ]
    assert isinstance(f, Filter)
    assert f.text == "USERPRINCIPALNAME eq 'a' or proxyAddresses/any(p: startswith(p, 'smtp:'))"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("status/errorCode eq -42", -42),
        ("status/errorCode eq 1.5", 1.5),
        ("id eq null", None),
        (f"userId eq '{GUID_A.upper()}'", GUID_A),
        ("createdDateTime eq 2026-01-13T00:00:00.123Z", datetime(2026, 1, 13, 0, 0, 0, 123000, tzinfo=UTC)),
    ],
)
def test_literal_typing(text: str, value: object) -> None:
    comparison = parse_filter(text, FULL).comparisons()[0]
    assert comparison.value == value
    assert type(comparison.value) is type(value)


# --- rejections ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rules", "fragments"),
    [
        # unknown property
        ("foo eq 'x'", FULL, ["Unsupported or invalid filter property 'foo'."]),
        ("location/city eq 'x'", FULL, ["Unsupported or invalid filter property 'location/city'."]),
        ("startswith(foo, 'x')", FULL, ["property 'foo'"]),
        ("foo/any(p: p eq 'x')", FULL, ["property 'foo'"]),
        # operator not allowed for the property
        (
            "contains(userPrincipalName, 'x')",
            FULL,
            [
                "Unsupported filter operator 'contains' for property 'userPrincipalName'. "
                "Supported: eq, startswith."
            ],
        ),
        ("userPrincipalName ne 'x'", FULL, ["'ne'", "'userPrincipalName'", "Supported: eq, startswith."]),
        ("id gt 'a'", FULL, ["'gt'", "'id'", "Supported: eq."]),
        ("accountEnabled lt true", FULL, ["'lt'", "'accountEnabled'"]),
        ("endswith(location/countryOrRegion, 'S')", FULL, ["'endswith'", "'location/countryOrRegion'"]),
        ("otherMails/any(m: m eq 'x')", FULL, ["'any'", "'otherMails'", "Supported: none."]),
        ("proxyAddresses/any(p: endswith(p, '.com'))", FULL, ["'endswith'", "proxyAddresses/any"]),
        ("proxyAddresses/any(p: p ne 'x')", FULL, ["'ne'", "Supported: eq, startswith."]),
        # boolean operators not allowed by the rules
        ("id eq 'a' or id eq 'b'", AND_ONLY, ["'or'", "not supported"]),
        ("not id eq 'a'", AND_ONLY, ["'not'", "not supported"]),
        ("id eq 'a' and mail eq 'b'", NO_AND, ["'and'", "not supported"]),
        ("proxyAddresses/any(p: p eq 'a' or p eq 'b')", AND_ONLY, ["'or'"]),
        # type mismatches name the property
        ("createdDateTime ge '2026-01-13T00:00:00Z'", FULL, ["'createdDateTime'", "datetime"]),
        ("createdDateTime ge 5", FULL, ["'createdDateTime'"]),
        ("status/errorCode eq '5'", FULL, ["'status/errorCode'", "int"]),
        ("userPrincipalName eq 5", FULL, ["'userPrincipalName'", "string"]),
        ("userPrincipalName eq true", FULL, ["'userPrincipalName'"]),
        ("accountEnabled eq 'true'", FULL, ["'accountEnabled'", "bool"]),
        ("accountEnabled eq 1", FULL, ["'accountEnabled'"]),
        ("userId eq 'not-a-guid'", FULL, ["'userId'", "guid"]),
        ("userId eq 42", FULL, ["'userId'"]),
        ("riskLevel eq high", FULL, ["Expected a literal", "'high'"]),
        ("riskLevel eq 3", FULL, ["'riskLevel'", "enum"]),
        (f"id eq {GUID_A}", FULL, ["'id'", "string"]),
        ("startswith(status/errorCode, '5')", FULL, ["'startswith'", "'status/errorCode'", "string"]),
        ("startswith(userPrincipalName, 5)", FULL, ["'userPrincipalName'", "quoted string"]),
        ("status/errorCode gt null", FULL, ["null", "'status/errorCode'"]),
        ("id eq mail", FULL, ["literal", "'mail'"]),
        # collections and lambdas
        ("proxyAddresses eq 'x'", FULL, ["'proxyAddresses'", "collection"]),
        ("startswith(proxyAddresses, 'x')", FULL, ["'proxyAddresses'", "collection"]),
        ("userPrincipalName/any(p: p eq 'x')", FULL, ["'userPrincipalName'", "not a collection"]),
        ("status/errorCode/any(p: p eq 1)", FULL, ["'status/errorCode'", "not a collection"]),
        ("proxyAddresses/all(p: p eq 'x')", FULL, ["'all'", "not supported"]),
        ("proxyAddresses/any()", FULL, ["empty any()"]),
        ("proxyAddresses/any(p: q eq 'x')", FULL, ["lambda variable 'p'", "'q'"]),
        ("proxyAddresses/any(p: id eq 'x')", FULL, ["lambda variable 'p'", "'id'"]),
        ("proxyAddresses/any(p p eq 'x')", FULL, ["':'"]),
        ("proxyAddresses/any(p: proxyAddresses/any(q: q eq 'x'))", FULL, ["Nested lambda"]),
        # syntax
        ("'x' eq userPrincipalName", FULL, ["left side", "property"]),
        ("5 eq status/errorCode", FULL, ["left side"]),
        ("userPrincipalName 'x'", FULL, ["comparison operator", "position 18"]),
        ("userPrincipalName in ('a', 'b')", FULL, ["Unsupported operator 'in'"]),
        ("userPrincipalName has 'x'", FULL, ["Unsupported operator 'has'"]),
        ("tolower(userPrincipalName) eq 'x'", FULL, ["Unsupported function 'tolower'"]),
        ("startswith(userPrincipalName, 'x') eq true", FULL, ["Unexpected 'eq'", "position 35"]),
        ("and id eq 'x'", FULL, ["keyword 'and'"]),
        ("id eq 'x' and", FULL, ["end of filter", "position 13"]),
        ("not", FULL, ["end of filter"]),
        ("createdDateTime ge 2026-01-13", FULL, ["'2026-01-13'", "zone"]),
        ("createdDateTime ge 2026-01-13T00:00:00", FULL, ["'2026-01-13T00:00:00'", "zone"]),
        ("createdDateTime ge 2026-13-40T00:00:00Z", FULL, ["Invalid datetime literal", "position 19"]),
        ("status/errorCode eq 5x", FULL, ["Invalid token '5x'", "position 20"]),
        ("id eq 'x' ; drop", FULL, ["Invalid token ';'", "position 10"]),
    ],
)
def test_rejections_name_the_problem(text: str, rules: FilterRules, fragments: list[str]) -> None:
    err = reject(text, rules)
    for fragment in fragments:
        assert fragment in err.message
    assert str(err) == err.message
    assert isinstance(err, ValueError)


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "empty"),
        ("   ", 0, "empty"),
        ("userPrincipalName eq 'abc", 21, "Unterminated string"),
        ("userPrincipalName eq 'o''brien", 24, "Unterminated string"),
        ("userPrincipalName eq 'a''", 24, "Unterminated string"),
        ("userPrincipalName eq 'a' 'b'", 25, "Unexpected string 'b'"),
        ("userPrincipalName eq 'a' mail", 25, "Unexpected 'mail'"),
        ("userPrincipalName eq 'a')", 24, "Unbalanced parentheses"),
        ("(userPrincipalName eq 'a'", 25, "Unbalanced parentheses"),
        ("((id eq 'a') or (id eq 'b')", 27, "Unbalanced parentheses"),
        ("()", 1, "Unbalanced parentheses"),
        ("proxyAddresses/any(p: p eq 'x'", 30, "Unbalanced parentheses"),
        ("startswith(userPrincipalName, 'a'", 33, "Unbalanced parentheses"),
        ("id eq", 5, "Expected a literal"),
    ],
)
def test_syntax_errors_carry_position(text: str, position: int, fragment: str) -> None:
    err = reject(text)
    assert err.position == position
    assert fragment in err.message


# --- datetimes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-03-13T19:15:41.6195833Z", datetime(2020, 3, 13, 19, 15, 41, 619583, tzinfo=UTC)),
        ("2020-03-13T19:15:41.619583Z", datetime(2020, 3, 13, 19, 15, 41, 619583, tzinfo=UTC)),
        ("2020-03-13T19:15:41.123456789z", datetime(2020, 3, 13, 19, 15, 41, 123456, tzinfo=UTC)),
        ("2020-03-13t19:15:41.5Z", datetime(2020, 3, 13, 19, 15, 41, 500000, tzinfo=UTC)),
        ("2020-03-13T19:15:41Z", datetime(2020, 3, 13, 19, 15, 41, tzinfo=UTC)),
        ("2020-03-13T19:15:41+02:00", datetime(2020, 3, 13, 17, 15, 41, tzinfo=UTC)),
        ("2020-03-13T19:15:41.1234567-05:30", datetime(2020, 3, 14, 0, 45, 41, 123456, tzinfo=UTC)),
        ("2020-03-13T19:15:41.1234567+0100", datetime(2020, 3, 13, 18, 15, 41, 123456, tzinfo=UTC)),
        ("2020-03-13T19:15:41", datetime(2020, 3, 13, 19, 15, 41, tzinfo=UTC)),
    ],
)
def test_parse_datetime(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2020-13-01T00:00:00Z", "2020-03-13T25:00:00Z", "13/03/2020"]
)
def test_parse_datetime_rejects_garbage_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_datetime(text)
    assert repr(text) in str(info.value) or text in str(info.value)


def test_offset_instants_compare_equal_to_utc() -> None:
    f = parse_filter("createdDateTime eq 2026-01-13T00:00:00Z", FULL)
    assert f.matches({"createdDateTime": "2026-01-13T05:30:00+05:30"})
    assert f.matches({"createdDateTime": datetime(2026, 1, 12, 19, tzinfo=timezone(timedelta(hours=-5)))})
    assert not f.matches({"createdDateTime": "2026-01-13T00:00:00+05:30"})


def test_case_sensitive_string_field_ne_and_missing_values() -> None:
    f = parse_filter("displayName ne 'Dave'", FULL)
    assert [item["id"] for item in ITEMS if f.matches(item)] == ["alice", "obrien", "admin"]
    assert f.matches({})  # null ne 'Dave'
    assert not parse_filter("displayName gt 'A'", FULL).matches({})


def test_many_rows_evaluate_quickly() -> None:
    f = parse_filter(
        "startswith(userPrincipalName, 'user1') and createdDateTime ge 2026-01-13T00:00:00Z", AND_ONLY
    )
    rows = [
        {"userPrincipalName": f"user{i}@contoso.com", "createdDateTime": f"2026-01-{12 + i % 3}T10:00:00Z"}
        for i in range(20_000)
    ]
    matched = [row for row in rows if f.matches(row)]
    expected = [
        row
        for row in rows
        if row["userPrincipalName"].startswith("user1")
        and not row["createdDateTime"].startswith("2026-01-12")
    ]
    assert matched == expected
    assert len(matched) > 1000
