#!/usr/bin/env python3
"""Writes adapters/openapi.json, the OpenAPI 3 document of kassa's HTTP API (served at
GET /openapi.json). Edit the tables here, run it, commit both. Each operation states the roles
that may call it, read from docs/tenancy.md's table (which a test keeps equal to the engine's
rules, `kassa_engine::authority::RULES`)."""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

def rules():
    """docs/tenancy.md's table: operation -> {role: relation}."""
    lines = (ROOT / "docs" / "tenancy.md").read_text().splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("| operation |"))
    roles = [cell.strip() for cell in lines[header].strip("|").split("|")][1:]
    table = {}
    for line in lines[header + 2:]:
        if not line.startswith("| `"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        table[cells[0].strip("`")] = dict(zip(roles, cells[1:]))
    return table

RULES = rules()

# Codes written by the HTTP layer itself, not found by the patterns below.
HTTP_CODES = ["unauthorized", "forbidden", "busy", "shutting_down", "storage_failed", "invalid_batch",
              "recovering", "request_timeout", "method_not_allowed"]

def error_codes():
    """Every `error.code` an answer may carry: the engine's rejections (`Rejection::code`) and the
    HTTP layer's own (adapters/tests/openapi.rs checks the same sources against this list)."""
    import re
    command = (ROOT / "engine" / "src" / "outcome.rs").read_text()
    macro = command[command.index("codes! {"):]
    codes = set(re.findall(r'=> "([a-z_]+)"', macro[:macro.index("}")]))
    for source in (ROOT / "adapters" / "src" / "http").rglob("*.rs"):
        text = source.read_text().split("#[cfg(test)]\nmod tests {")[0]
        codes.update(re.findall(r'(?:bad_request|invalid|unprocessable|not_found)\("([a-z_]+)"', text))
    return sorted(codes | set(HTTP_CODES))

def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}

def currencies():
    """The alpha codes kassa supports: engine/src/types.rs's table."""
    source = (ROOT / "engine" / "src" / "types.rs").read_text()
    table = source[source.index("const CURRENCIES"):]
    table = table[:table.index("];")]
    return [line.split('"')[1] for line in table.splitlines() if line.strip().startswith('("')]

ID = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"}
# A scoped API key's merchant, operator, app or terminal id (adapters/src/auth.rs).
SCOPE_ID = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,48}$"}
U64 = {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}
U32 = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
I32 = {"type": "integer", "minimum": -2**31, "maximum": 2**31 - 1}
SECONDS = {**U64, "description": "seconds from now"}
# A position in the log: `<seq>.<index>` (a history line's id, an event's position).
POSITION = {"type": "string", "pattern": "^[0-9]{1,19}[.][0-9]{1,9}$"}
AMOUNT = {"type": "integer", "format": "int64", "minimum": 1, "maximum": 10**15, "description": "minor units"}
EXPIRES_AT = {"type": "integer", "format": "int64", "description": "expiry, Unix time in seconds (Stripe style)"}
EXPIRES_AT_MS = {"type": "integer", "format": "int64", "description": "expiry, Unix time in milliseconds"}
METADATA = {"type": "object", "maxProperties": 16, "propertyNames": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,40}$"},
            "additionalProperties": {"type": "string", "maxLength": 500, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"},
            "description": "what the caller attaches to what it creates (an order id): at most 16 entries; keys 1..=40 of A-Z a-z 0-9 . _ : -; string values of at most 500 characters, no control characters (a value that is not a string: 400 invalid_metadata; a key, value or count outside these bounds: 422 invalid_metadata, since OpenAPI 3.0 cannot describe the keys). Returned by the object's lookup and in the event feed (an annotated event); a retry of an id keeps the first metadata"}
CURRENCY = {"type": "string", "enum": currencies(), "description": "ISO 4217 alpha code (the ones kassa supports)"}

def nullable(schema):
    """An optional field: the server takes `null` as absent."""
    if "$ref" in schema:
        return {"allOf": [schema], "nullable": True}
    if "enum" in schema:
        return {**schema, "enum": schema["enum"] + [None], "nullable": True}
    return {**schema, "nullable": True}

# Optional fields with a default value (not an `Option`): absent means the default, `null` is refused.
DEFAULTED = {"overdraft_limit", "atomic", "opens_in_s", "starts_in_s", "adjustments", "min_spend"}

def obj(required, **props):
    """A request body (or a fixed reply): unknown fields are refused; optional ones may be null."""
    props = {name: schema if name in required or name in DEFAULTED else nullable(schema) for name, schema in props.items()}
    return {"type": "object", "additionalProperties": False, "required": required, "properties": props}

schemas = {
    "Error": obj(["error"], error=obj(["code", "message"], code={"type": "string", "enum": error_codes(), "example": "insufficient_funds"}, message={"type": "string"}, leg={**U32, "description": "a refused atomic batch: the refused transfer's number, from 0"}, transfer={**ID, "description": "a refused atomic batch: the refused transfer's id"})),
    "Account": obj(["id", "currency", "balance", "held", "available"], id=ID, currency=CURRENCY, balance={"type": "integer"}, held={"type": "integer"}, available={"type": "integer"}, overdraft_limit={"type": "integer"}, status={"type": "string", "enum": ["open", "closed"]}),
    **{f"{name}Page": {"type": "object", "properties": {"object": {"type": "string", "enum": ["list"]}, "has_more": {"type": "boolean"}, "data": {"type": "array", "items": ref(item)}}} for name, item in [("Hold", "Hold"), ("Authorization", "AuthorizationStatus"), ("Bill", "Bill"), ("Split", "Split"), ("Settlement", "SettlementRecord")]},
    "AccountPage": {"type": "object", "properties": {"object": {"type": "string", "enum": ["list"]}, "has_more": {"type": "boolean"}, "data": {"type": "array", "items": ref("Account")}}},
    "OpenAccount": obj(["id", "currency"], id=ID, currency=CURRENCY, overdraft_limit=U64),
    "Movement": obj(["id", "amount"], id=ID, amount=AMOUNT),
    "Transfer": obj(["id", "from", "to", "amount", "currency"], id=ID, **{"from": ID}, to=ID, amount=AMOUNT, currency=CURRENCY, metadata=METADATA),
    "TransferBatch": obj(["transfers"], atomic={"type": "boolean", "default": False}, transfers={"type": "array", "minItems": 1, "maxItems": 1000, "items": ref("BatchTransfer")}),
    "BatchTransfer": obj(["id", "from", "to", "amount", "currency"], id=ID, **{"from": ID}, to=ID, amount={**U64, "description": "minor units; outside 1..=10^15 this transfer is refused invalid_amount in the batch's answer"}, currency=CURRENCY),
    "PlaceHold": obj(["id", "from", "to", "amount", "currency", "expires_in_s"], id=ID, **{"from": ID}, to=ID, amount=AMOUNT, currency=CURRENCY, expires_in_s=SECONDS, metadata=METADATA),
    "Capture": obj(["amount"], amount=AMOUNT),
    "RefundRequest": obj(["id", "amount"], id=ID, amount=AMOUNT),
    "Refund": obj(["id", "amount", "remaining"], id=ID, settlement=ID, bill=ID, amount=AMOUNT, remaining={"type": "integer", "description": "what may still be refunded after this refund"}),
    "RefundLine": obj(["id", "amount"], id=ID, amount=AMOUNT),
    "Hold": obj(["id", "status"], id=ID, **{"from": ID}, to=ID, amount=AMOUNT, currency=CURRENCY, status={"type": "string", "enum": ["active", "captured", "voided", "expired"]}, captured={"type": "integer", "nullable": True}, expires_at=EXPIRES_AT, expires_at_ms=EXPIRES_AT_MS, metadata={**METADATA, "description": "what was attached when it was placed (lookups only)"}),
    "Merchant": obj(["id", "account"], id=ID, account=ID),
    "Terminal": obj(["id", "merchant"], id=ID, merchant=ID, mac_key={"type": "string", "pattern": "^([0-9a-fA-F]{2}){16,64}$", "description": "hex, 16..64 bytes; the terminal then signs ISO 8583 field 64"}),
    "TerminalRegistered": {"type": "object", "required": ["id", "merchant", "mac"], "properties": {"id": ID, "merchant": ID, "mac": {"type": "boolean", "description": "whether the terminal signs ISO 8583 field 64"}}},
    "Operator": obj(["id", "merchant"], id=ID, merchant=ID),
    "CreateKey": {"oneOf": [obj(["role"], role={"type": "string", "enum": ["admin"]})] + [
        obj(["role", role], role={"type": "string", "enum": [role]}, **{role: SCOPE_ID}) for role in ["merchant", "operator", "app", "terminal"]],
        "description": "the role, and for a scoped role its merchant, operator, app or terminal (only that field)"},
    "Key": obj(["key_id", "key", "role"], key_id={"type": "string"}, key={"type": "string", "description": "shown once"}, role={"type": "string"}),
    "Authorize": obj(["id", "user", "account", "limit", "expires_in_s"], id=ID, user=ID, account=ID, limit=AMOUNT, expires_in_s=SECONDS),
    "Authorization": obj(["id", "code", "expires_at", "expires_at_ms"], id=ID, user=ID, account=ID, limit=AMOUNT, code={"type": "string", "pattern": "^[0-9]{8}$"}, expires_at=EXPIRES_AT, expires_at_ms=EXPIRES_AT_MS),
    "AuthorizationStatus": {"type": "object", "properties": {"id": ID, "user": ID, "account": ID, "limit": AMOUNT, "currency": CURRENCY, "status": {"type": "string", "enum": ["active", "used", "expired", "revoked"]}, "settlement": {"type": "string", "nullable": True}, "expires_at": EXPIRES_AT, "expires_at_ms": EXPIRES_AT_MS}},
    "SettlementRecord": {"type": "object", "properties": {"metadata": {**METADATA, "description": "what was attached when it was created (lookups only)"}, "id": ID, "user": ID, "terminal": ID, "amount": {**U64, "description": "as asked (a declined sale may have asked an invalid amount)"}, "currency": CURRENCY, "approved": {"type": "boolean"}, "approval_code": {"type": "string", "nullable": True}, "charged": {"type": "integer"}, "discount": {"type": "integer"}, "decline_code": {"type": "string"}, "reversed": {"type": "boolean"}, "refunded": {"type": "integer"}, "refunds": {"type": "array", "items": ref("RefundLine")}}},
    "Settle": obj(["id", "user", "code", "amount", "terminal"], id=ID, user=ID, code={"type": "string"}, amount={**U64, "description": "minor units; outside 1..=10^15 the sale is declined invalid_amount (answered 200, approved false)"}, terminal=ID, currency=CURRENCY, coupon=ID, location=ref("Location"), metadata=METADATA),
    "Settlement": obj(["id", "approved"], id=ID, approved={"type": "boolean"}, approval_code={"type": "string", "nullable": True}, charged={"type": "integer"}, discount={"type": "integer"}, decline_code={"type": "string"}, message={"type": "string"}, amount={"type": "integer"}, currency=CURRENCY),
    "OpenBill": obj(["id", "user", "account", "merchant", "expires_in_s"], id=ID, user=ID, account=ID, merchant=ID, opens_in_s=SECONDS, expires_in_s=SECONDS, metadata=METADATA),
    "BillItem": obj(["terminal", "item_ref", "quantity", "unit_amount"], terminal=ID, item_ref={"type": "string", "maxLength": 64}, quantity={"type": "integer", "minimum": 1, "maximum": 10000}, unit_amount=AMOUNT),
    "ConfirmBill": obj(["challenge"], challenge={"type": "string"}, coupon=ID, location=ref("Location")),
    "Bill": {"type": "object", "properties": {"metadata": {**METADATA, "description": "what was attached when it was created (lookups only)"}, "id": ID, "user": ID, "account": ID, "merchant": ID, "currency": CURRENCY, "status": {"type": "string", "enum": ["open", "submitted", "paid", "cancelled", "expired"]}, "total": {"type": "integer"}, "charged": {"type": "integer", "nullable": True}, "discount": {"type": "integer", "nullable": True}, "challenge": {"type": "string", "nullable": True, "description": "only to the user's app or admin, after submit"}, "items": {"type": "array", "items": ref("BillItem")}, "refunded": {"type": "integer"}, "refunds": {"type": "array", "items": ref("RefundLine")}}},
    "RequestSplit": obj(["id", "requester", "requester_account", "total", "currency", "members", "expires_in_s"], id=ID, requester=ID, requester_account=ID, total=AMOUNT, currency=CURRENCY, members={"type": "array", "maxItems": 100, "items": obj(["user", "account"], user=ID, account=ID)}, shares={"type": "array", "items": AMOUNT, "description": "explicit shares in member order; omit for equal shares (remainder units to the first members)"}, expires_in_s=SECONDS, metadata=METADATA),
    "PayShare": obj(["member"], member=ID),
    "Split": {"type": "object", "properties": {"metadata": {**METADATA, "description": "what was attached when it was created (lookups only)"}, "id": ID, "status": {"type": "string", "enum": ["open", "completed", "cancelled", "expired", "refunded"]}, "total": {"type": "integer"}, "collected": {"type": "integer"}, "members": {"type": "array", "items": {"type": "object", "properties": {"user": ID, "account": ID, "share": {"type": "integer"}, "paid": {"type": "boolean"}}}}, "expires_at": EXPIRES_AT, "expires_at_ms": EXPIRES_AT_MS}},
    "Contact": obj(["user", "contact"], user=ID, contact=ID),
    "Rule": {"oneOf": [
        obj(["type", "percent"], type={"type": "string", "enum": ["percent_off"]}, percent={"type": "string", "pattern": "^[0-9]{1,3}([.][0-9]{1,6})?$", "description": "decimal string, 0 < p <= 100, e.g. \"12.5\""}, cap=U64, min_spend=U64),
        obj(["type", "amount"], type={"type": "string", "enum": ["fixed_off"]}, amount=AMOUNT, min_spend=U64),
        obj(["type", "threshold", "save"], type={"type": "string", "enum": ["spend_save"]}, threshold=AMOUNT, save=AMOUNT, min_spend=U64)],
        "description": "Discounts are computed exactly with decimals and rounded once, half-to-even, to the currency's minor unit; never more than the purchase."},
    "Adjustment": {"oneOf": [
        obj(["type", "from_ms", "until_ms", "factor_percent"], type={"type": "string", "enum": ["time_window"]}, from_ms=U64, until_ms=U64, factor_percent={**U32, "maximum": 1000}),
        obj(["type", "latitude_e6", "longitude_e6", "radius_m", "factor_percent"], type={"type": "string", "enum": ["location"]}, latitude_e6=I32, longitude_e6=I32, radius_m=U32, factor_percent={**U32, "maximum": 1000})]},
    "IssueCoupon": obj(["id", "merchant", "holder", "currency", "rule", "expires_in_s"], id=ID, merchant=ID, holder=ID, currency=CURRENCY, rule=ref("Rule"), adjustments={"type": "array", "maxItems": 8, "items": ref("Adjustment")}, starts_in_s=SECONDS, expires_in_s=SECONDS, reward=ref("Rule")),
    "Coupon": {"type": "object", "properties": {"id": ID, "merchant": ID, "holder": ID, "currency": CURRENCY, "status": {"type": "string", "enum": ["available", "shared", "redeemed"]}, "shared_by": {"type": "string", "nullable": True}, "code": {"type": "string", "nullable": True}, "valid_from_ms": {"type": "integer"}, "valid_until_ms": {"type": "integer"}}},
    "UserRef": obj(["user"], user=ID),
    "Location": obj(["latitude_e6", "longitude_e6"], latitude_e6=I32, longitude_e6=I32),
    "VerifyCoupon": obj(["code", "amount"], code={"type": "string"}, amount=AMOUNT, location=ref("Location"), operator={**ID, "description": "the operator to act as: an admin names one; an operator key acts as itself"}),
    "RedeemCoupon": obj(["id", "code", "amount"], id=ID, code={"type": "string"}, amount=AMOUNT, location=ref("Location"), operator={**ID, "description": "the operator to act as: an admin names one; an operator key acts as itself"}),
    "Quote": obj(["coupon", "amount"], coupon=ID, amount=AMOUNT, location=ref("Location")),
    "QuoteResult": {"type": "object", "properties": {"discount": {"type": "integer"}, "payable": {"type": "integer"}}},
    "CouponList": {"type": "object", "properties": {"user": ID, "coupons": {"type": "array", "items": ID}}},
    "CouponPage": {"type": "object", "properties": {"object": {"type": "string", "enum": ["list"]}, "user": ID, "has_more": {"type": "boolean"}, "data": {"type": "array", "items": ref("Coupon")}}},
    "TransferFound": {"type": "object", "required": ["id", "object", "from", "amount", "currency", "status", "debited_at_ms", "debit_event"], "properties": {"metadata": {**METADATA, "description": "what was attached when it was created (lookups only)"}, "id": ID, "object": {"type": "string", "enum": ["transfer"]}, "from": ID, "to": {**ID, "nullable": True}, "amount": {"type": "integer"}, "currency": {"type": "string"}, "status": {"type": "string", "enum": ["posted", "in_transit", "refunded"]}, "debited_at_ms": {"type": "integer"}, "settled_at_ms": {"type": "integer", "nullable": True}, "debit_event": {"type": "string", "description": "the debit's position in the event feed"}, "credit_event": {"type": "string", "nullable": True}}},
    "EventPage": {"type": "object", "properties": {"object": {"type": "string", "enum": ["list"]}, "has_more": {"type": "boolean", "description": "the feed holds events after next_after now"}, "next_after": {"type": "string", "nullable": True, "pattern": "^[0-9]+[.][0-9]+$", "description": "the cursor of the next page: the last position this page looked at (a tenant's page may pass over events it may not see)"}, "data": {"type": "array", "items": {"type": "object", "required": ["id", "seq", "at_ms", "partition", "type"], "properties": {"id": {"type": "string", "pattern": "^[0-9]+[.][0-9]+$", "description": "the event's position in the log"}, "seq": {"type": "integer"}, "at_ms": {"type": "integer"}, "partition": {"type": "integer"}, "type": {"type": "string", "enum": ["posting", "changed", "code_rejected", "annotated"]}, "account": ID, "amount": {"type": "integer"}, "held_change": {"type": "integer"}, "balance_after": {"type": "integer"}, "held_after": {"type": "integer"}, "kind": {"type": "string"}, "ref": ID, "object": {"type": "string", "enum": ["account", "hold", "merchant", "terminal", "operator", "authorization", "bill", "split", "user", "coupon", "api_key", "transfer", "settlement"]}, "object_id": ID, "change": {"type": "string"}, "subject": ID, "metadata": {**METADATA, "description": "an annotated event: what was attached to object_id as it was created"}}}}}},
    "History": {"type": "object", "properties": {"object": {"type": "string", "enum": ["list"]}, "account": ID, "has_more": {"type": "boolean", "description": "older lines remain: ask again with starting_after = the last line's id"}, "data": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string", "pattern": "^[0-9]+[.][0-9]+$", "description": "the line's cursor"}, "seq": {"type": "integer"}, "at_ms": {"type": "integer"}, "amount": {"type": "integer"}, "held_change": {"type": "integer"}, "balance_after": {"type": "integer"}, "held_after": {"type": "integer"}, "kind": {"type": "string"}, "ref": ID}}}}},
}

ERRORS = {code: {"description": text, "content": {"application/json": {"schema": ref("Error")}}} for code, text in {
    "400": "malformed request", "401": "missing or invalid API key", "403": "forbidden: this key's principal may not do this to this object (docs/tenancy.md)",
    "404": "unknown object", "409": "id reused with another body, or an id another tenant owns", "422": "business rejection (code says which)",
    "408": "the request was not received and answered in time (15 s; a long poll of the event feed: 15 s more than its wait)",
    "503": "busy or shutting down: retry"}.items()}

def op(summary, request=None, response=None, params=(), tag="payments", rule=None):
    operation = {"summary": summary, "tags": [tag], "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": ref(response) if response else {"type": "object"}}}}, **ERRORS}}
    if rule:
        roles = RULES[rule]
        allowed = [f"{role} ({cell})" if cell != "yes" else role for role, cell in roles.items() if cell != "-"]
        operation["description"] = f"Roles (docs/tenancy.md, `{rule}`): " + "; ".join(allowed) + ". Anyone else: 403 forbidden."
        operation["x-kassa-operation"] = rule
        operation["x-kassa-roles"] = roles
    if request:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(request)}}}
    if params:
        operation["parameters"] = [{"name": name, "in": "path", "required": True, "schema": ID} for name in params]
    return operation

paths = {
    "/health": {"get": {"summary": "liveness", "security": [], "tags": ["service"], "responses": {"200": {"description": "ok"}}}},
    "/ready": {"get": {"summary": "readiness: 503 while the engine recovers or after a storage failure", "security": [], "tags": ["service"], "responses": {"200": {"description": "ready"}, "503": {"description": "recovering or storage_failed"}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "tags": ["service"], "responses": {"200": {"description": "text exposition format"}}}},
    "/openapi.json": {"get": {"summary": "this document", "security": [], "tags": ["service"], "responses": {"200": {"description": "OpenAPI 3"}}}},
    "/v1/keys": {"post": op("create an API key (admin)", "CreateKey", "Key", tag="admin", rule="register_api_key")},
    "/v1/keys/{id}": {"delete": op("revoke an API key: every listener refuses it from the next request", None, None, ["id"], tag="admin", rule="revoke_api_key")},
    "/v1/accounts": {"post": op("open an account (idempotent by id, for its owner); an overdraft_limit above 0 is the admin's only (open_account_with_overdraft)", "OpenAccount", "Account", rule="open_account"), "get": {**op("the accounts the caller's tenant (app or merchant) opened, in pages in id order (limit 1..1000, default 100; starting_after = the last account's id; has_more); the admin's list is empty", None, "AccountPage"), "parameters": [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"name": "starting_after", "in": "query", "required": False, "schema": ID}]}},
    "/v1/accounts/{id}": {"get": op("an account's balances", None, "Account", ["id"], rule="read_account")},
    "/v1/accounts/{id}/close": {"post": op("close an empty account", None, "Account", ["id"], rule="close_account")},
    "/v1/accounts/{id}/deposits": {"post": op("money in (admin only; idempotent by id)", "Movement", None, ["id"], rule="deposit")},
    "/v1/accounts/{id}/withdrawals": {"post": op("money out (idempotent by id)", "Movement", None, ["id"], rule="withdraw")},
    "/v1/accounts/{id}/history": {"get": {**op("postings, newest first, in pages (Stripe style: limit 1..1000, default 100; starting_after = the last line's id of the previous page; has_more)", None, "History", ["id"], rule="read_account"), "parameters": [{"name": "id", "in": "path", "required": True, "schema": ID}, {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"name": "starting_after", "in": "query", "required": False, "schema": {"type": "string", "pattern": "^[0-9]+[.][0-9]+$"}}]}},
    "/v1/transfers": {"post": op("transfer (idempotent by id)", "Transfer", None, rule="transfer")},
    "/v1/transfers/batch": {"post": op("several transfers; atomic: all or nothing", "TransferBatch", None, rule="transfer_batch")},
    "/v1/holds": {"post": op("place a hold", "PlaceHold", "Hold", rule="place_hold"), "get": {**op("the holds the caller's tenant placed, in pages in id order (limit 1..1000, default 100; starting_after = the last hold's id; has_more); the admin's list is empty", None, "HoldPage", tag="accounts"), "parameters": [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"name": "starting_after", "in": "query", "required": False, "schema": ID}]}},
    "/v1/holds/{id}": {"get": op("a hold", None, "Hold", ["id"], rule="read_hold")},
    "/v1/holds/{id}/capture": {"post": op("capture up to the held amount; the rest is released", "Capture", None, ["id"], rule="capture_hold")},
    "/v1/holds/{id}/void": {"post": op("release a hold", None, "Hold", ["id"], rule="void_hold")},
    "/v1/merchants/{id}/settlements": {"get": {**op("the POS settlements made at the merchant's terminals, approved or declined, each as it was answered; in pages in id order (limit 1..1000, default 100; starting_after; has_more)", None, "SettlementPage", ["id"], tag="pos", rule="read_merchant_settlements"), "parameters": [{"name": "id", "in": "path", "required": True, "schema": ID}] + [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"name": "starting_after", "in": "query", "required": False, "schema": ID}]}},
    "/v1/merchants": {"post": op("register a merchant", "Merchant", "Merchant", tag="admin", rule="register_merchant")},
    "/v1/terminals": {"post": op("register a POS terminal", "Terminal", "TerminalRegistered", tag="admin", rule="register_terminal")},
    "/v1/operators": {"post": op("register a merchant operator", "Operator", "Operator", tag="admin", rule="register_operator")},
    "/v1/authorizations": {"post": op("authorize an account for a limit; returns the one-time secure code", "Authorize", "Authorization", tag="pos", rule="authorize"), "get": {**op("the authorizations the caller's tenant made (never their codes), in pages in id order; the admin's list is empty", None, "AuthorizationPage", tag="pos"), "parameters": [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"name": "starting_after", "in": "query", "required": False, "schema": ID}]}},
    "/v1/authorizations/{id}": {"get": op("an authorization's state (never its code)", None, "AuthorizationStatus", ["id"], tag="pos", rule="read_authorization")},
    "/v1/authorizations/{id}/revoke": {"post": op("revoke an authorization (a lost phone): its secure code stops working at once; idempotent; a used one answers 422 code_already_used", None, "AuthorizationStatus", ["id"], tag="pos", rule="revoke_authorization")},
    "/v1/pos/settlements": {"post": op("settle a POS purchase with user id + secure code (declines answer approved=false); with a location, the coupon's location-adjusted value applies", "Settle", "Settlement", tag="pos", rule="settle_pos")},
    "/v1/pos/settlements/{id}": {"get": op("a settlement as it was answered, and whether it was reversed", None, "SettlementRecord", ["id"], tag="pos", rule="read_settlement")},
    "/v1/pos/settlements/{id}/reverse": {"post": op("reverse an approved settlement (gives back what its refunds left)", None, None, ["id"], tag="pos", rule="reverse_pos")},
    "/v1/pos/settlements/{id}/refunds": {"post": op("refund part of an approved settlement to the account it charged (idempotent by refund id within the settlement; all refunds together at most the charge: 422 refund_exceeds_charge; at most 16: too_many_refunds; a declined one: not_reversible)", "RefundRequest", "Refund", ["id"], tag="pos", rule="refund_pos")},
    "/v1/bills": {"post": op("open a virtual bill", "OpenBill", "Bill", tag="bills", rule="open_bill"), "get": {**op("the bills the caller's tenant opened, in pages in id order; the admin's list is empty", None, "BillPage", tag="bills"), "parameters": [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"name": "starting_after", "in": "query", "required": False, "schema": ID}]}},
    "/v1/bills/{id}": {"get": op("a bill", None, "Bill", ["id"], tag="bills", rule="read_bill")},
    "/v1/bills/{id}/items": {"post": op("a terminal adds an item", "BillItem", "Bill", ["id"], tag="bills", rule="add_bill_item")},
    "/v1/bills/{id}/submit": {"post": op("total the bill and issue the user's challenge", None, "Bill", ["id"], tag="bills", rule="submit_bill")},
    "/v1/bills/{id}/confirm": {"post": op("the user confirms; the account is charged", "ConfirmBill", "Bill", ["id"], tag="bills", rule="confirm_bill")},
    "/v1/bills/{id}/cancel": {"post": op("cancel an unpaid bill", None, "Bill", ["id"], tag="bills", rule="cancel_bill")},
    "/v1/bills/{id}/refunds": {"post": op("refund part of a paid bill to the account it charged (idempotent by refund id within the bill; all refunds together at most the charge: 422 refund_exceeds_charge; at most 16: too_many_refunds; an unpaid bill: not_reversible)", "RefundRequest", "Refund", ["id"], tag="bills", rule="refund_bill")},
    "/v1/splits": {"post": op("post a payment request to a group", "RequestSplit", "Split", tag="splits", rule="request_split"), "get": {**op("the splits the caller's tenant requested, in pages in id order; the admin's list is empty", None, "SplitPage", tag="splits"), "parameters": [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"name": "starting_after", "in": "query", "required": False, "schema": ID}]}},
    "/v1/splits/{id}": {"get": op("a split", None, "Split", ["id"], tag="splits", rule="read_split")},
    "/v1/splits/{id}/pay": {"post": op("a member pays their share", "PayShare", "Split", ["id"], tag="splits", rule="pay_split_share")},
    "/v1/splits/{id}/cancel": {"post": op("cancel; paid shares are refunded", None, "Split", ["id"], tag="splits", rule="cancel_split")},
    "/v1/splits/{id}/refund": {"post": op("refund a completed split whole: the requester's account pays every member back its share, all or nothing (status refunded, refunded = the total; a retry answers the same; not completed: 422 not_reversible)", None, "Split", ["id"], tag="splits", rule="refund_split")},
    "/v1/contacts": {"post": op("link two users as contacts (status linked), or, across apps, ask until the other app sends the pair back (status requested)", "Contact", None, tag="coupons", rule="add_contact")},
    "/v1/coupons": {"post": op("issue a coupon (merchant)", "IssueCoupon", "Coupon", tag="coupons", rule="issue_coupon")},
    "/v1/coupons/{id}": {"get": op("a coupon (with its code for its holder's app)", None, "Coupon", ["id"], tag="coupons", rule="read_coupon")},
    "/v1/coupons/{id}/share": {"post": op("share into the holder's pool", "UserRef", None, ["id"], tag="coupons", rule="share_coupon")},
    "/v1/coupons/{id}/claim": {"post": op("a contact claims a pooled coupon; the claimer gets a new code, the sharer's stops working", "UserRef", "Coupon", ["id"], tag="coupons", rule="claim_coupon")},
    "/v1/coupons/verify": {"post": op("an operator prices a coupon by code (own merchant only)", "VerifyCoupon", "QuoteResult", tag="coupons", rule="verify_coupon")},
    "/v1/coupons/redeem": {"post": op("an operator redeems a coupon by code (own merchant only)", "RedeemCoupon", "QuoteResult", tag="coupons", rule="redeem_coupon")},
    "/v1/users/{user}/pool": {"get": op("coupons a user shared", None, "CouponList", ["user"], tag="coupons", rule="read_user")},
    "/v1/users/{user}/coupons": {"get": {**op("the coupons a user holds, any state, reward coupons included, each with its code; in pages in id order (limit 1..1000, default 100; starting_after = the last coupon's id; has_more)", None, "CouponPage", ["user"], tag="coupons", rule="read_user_coupons"), "parameters": [{"name": "user", "in": "path", "required": True, "schema": ID}, {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"name": "starting_after", "in": "query", "required": False, "schema": ID}]}},
    "/v1/users/{user}/splits": {"get": {**op("the splits a user is a member of (what they owe or paid), any state; in pages in id order (limit 1..1000, default 100; starting_after = the last split's id; has_more)", None, "SplitPage", ["user"], tag="splits", rule="read_user_splits"), "parameters": [{"name": "user", "in": "path", "required": True, "schema": ID}, {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"name": "starting_after", "in": "query", "required": False, "schema": ID}]}},
    "/v1/users/{user}/claimable": {"get": op("coupons a user's contacts shared", None, "CouponList", ["user"], tag="coupons", rule="read_user")},
    "/v1/transfers/{id}": {"get": op("a transfer by id (the newest with that id), as its postings tell it: status posted, in_transit (debited, its payee's partition has not credited it yet) or refunded (refused by the payee's partition); a transfer refused outright posts nothing and is not found. To the admin, or a tenant that may read the payer's or the payee's account (read_account); to anyone else an unknown id is 403.", None, "TransferFound", ["id"], rule="read_account")},
    "/v1/events": {"get": {**op("the event feed, oldest first: every posting and state change of every acknowledged command, at its position in the log (stable across restarts); the admin sees every event, a tenant those of the objects it may read (the read rows of docs/tenancy.md; registrations and wrong-code attempts are the admin's). Pages: limit 1..1000 (default 100), after = the previous page's next_after; wait_ms (up to 30000) waits for an event when there is none yet (long poll). A tenant's page looks at no more than 4,096 events.", None, "EventPage", tag="events"), "parameters": [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"name": "after", "in": "query", "required": False, "schema": {"type": "string", "pattern": "^[0-9]+[.][0-9]+$"}}, {"name": "wait_ms", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0, "maximum": 30000}}]}},
    "/v1/quotes": {"post": op("price a coupon on an amount", "Quote", "QuoteResult", tag="coupons", rule="read_coupon")},
}

# Query parameters have one definition each, whatever the line above wrote.
QUERY = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
    "wait_ms": {"type": "integer", "minimum": 0, "maximum": 30000},
    "after": POSITION,
}
for path, methods in paths.items():
    for operation in methods.values():
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            if parameter["name"] == "starting_after":
                parameter["schema"] = POSITION if path.endswith("/history") else ID
            elif parameter["name"] in QUERY:
                parameter["schema"] = QUERY[parameter["name"]]

# Every operation gets an id from its method and path (`get_v1_accounts_id_history`).
for path, methods in paths.items():
    for method, operation in methods.items():
        words = [word.strip("{}") for word in path.strip("/").replace(".", "_").split("/")]
        operation.setdefault("operationId", "_".join([method] + words))

document = {
    "openapi": "3.0.3",
    "info": {"title": "kassa HTTP API", "version": "1", "description": "Amounts are integers in minor units with an ISO 4217 currency. Client-chosen ids make writes idempotent (transfer, deposit and withdrawal ids are remembered for at least 24 hours, at most 48; a repeat after that is a new request). Errors: {\"error\":{\"code\",\"message\"}}."},
    "servers": [{"url": "http://127.0.0.1:8080"}],
    "security": [{"bearer": []}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "kassa_<key_id>_<secret>, or the bootstrap admin key"}}, "schemas": schemas},
    "paths": paths,
}
out = pathlib.Path(__file__).resolve().parent.parent / "adapters" / "openapi.json"
out.write_text(json.dumps(document, indent=1) + "\n")
print(f"wrote {out}")
