#!/usr/bin/env python3
"""Independent clients against a running `kassa serve`: HTTP/JSON with urllib, ISO 8583 with
pyiso8583 (`import iso8583`, spec `default_ascii`). Driven by adapters/tests/clients.rs, which
starts the server on loopback ports and passes them in the environment:
KASSA_HTTP, KASSA_ISO8583, KASSA_ADMIN_KEY. Every socket has a timeout; the script stops by
itself and exits non-zero on the first failed check."""

import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.request

import iso8583
from iso8583.specs import default_ascii as SPEC

HTTP = os.environ["KASSA_HTTP"]
ISO_HOST, ISO_PORT = os.environ["KASSA_ISO8583"].rsplit(":", 1)
ADMIN = os.environ["KASSA_ADMIN_KEY"]
CHECKS = 0


def check(condition, what):
    global CHECKS
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    CHECKS += 1


def call(method, path, body=None, key=ADMIN, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"http://{HTTP}{path}", data=data, method=method)
    request.add_header("content-type", "application/json")
    if key is not None:
        request.add_header("authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text.startswith("{") else text)
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        return error.code, (json.loads(text) if text.startswith("{") else text)


def ok(method, path, body=None, key=ADMIN):
    status, answer = call(method, path, body, key)
    check(status == 200, f"{method} {path} -> {status} {answer}")
    return answer


def error(method, path, body, expected_status, expected_code, key=ADMIN):
    status, answer = call(method, path, body, key)
    check(status == expected_status, f"{method} {path}: expected {expected_status}, got {status} {answer}")
    if expected_code is not None:
        check(answer["error"]["code"] == expected_code, f"{method} {path}: expected {expected_code}, got {answer}")
    return answer


# ----- HTTP ------------------------------------------------------------------------------------

check(call("GET", "/health", key=None)[0] == 200, "health")
error("GET", "/v1/accounts/x", None, 401, "unauthorized", key=None)
error("GET", "/v1/accounts/x", None, 401, "unauthorized", key="kassa_nope_nope")
check("openapi" in json.dumps(call("GET", "/openapi.json", key=None)[1]), "openapi document served")

app = ok("POST", "/v1/keys", {"role": "app", "app": "wallet"})["key"]
other_app = ok("POST", "/v1/keys", {"role": "app", "app": "rival"})["key"]
error("POST", "/v1/keys", {"role": "app", "app": "x"}, 403, "forbidden", key=app)

for account in ["alice", "bob"]:
    answer = ok("POST", "/v1/accounts", {"id": account, "currency": "EUR"}, key=app)
    check(answer["balance"] == 0 and answer["currency"] == "EUR", f"open {account}: {answer}")
check(ok("POST", "/v1/accounts", {"id": "alice", "currency": "EUR"}, key=app)["id"] == "alice", "open is idempotent")
error("POST", "/v1/accounts", {"id": "alice", "currency": "USD"}, 409, "already_exists", key=app)
error("POST", "/v1/accounts", {"id": "bad id", "currency": "EUR"}, 400, "malformed_request", key=app)
error("POST", "/v1/accounts", {"id": "zed", "currency": "XXX"}, 400, "invalid_currency", key=app)
error("POST", "/v1/accounts/alice/deposits", {"id": "dep-0", "amount": 100000}, 403, "forbidden", key=app)
ok("POST", "/v1/accounts/alice/deposits", {"id": "dep-1", "amount": 100000})
ok("POST", "/v1/accounts/alice/deposits", {"id": "dep-1", "amount": 100000})
check(ok("GET", "/v1/accounts/alice", key=app)["balance"] == 100000, "a repeated deposit applies once")
error("POST", "/v1/accounts/alice/deposits", {"id": "dep-1", "amount": 5}, 409, "id_reused")
error("GET", "/v1/accounts/alice", None, 403, "forbidden", key=other_app)

transfer = {"id": "t-1", "from": "alice", "to": "bob", "amount": 2500, "currency": "EUR"}
# The processor's order id rides with the transfer (metadata); a retry keeps the first metadata.
check(ok("POST", "/v1/transfers", dict(transfer, metadata={"order_id": "A-1001"}), key=app)["status"] == "applied", "transfer")
ok("POST", "/v1/transfers", dict(transfer, metadata={"order_id": "changed"}), key=app)
error("POST", "/v1/transfers", dict(transfer, id="t-m", metadata={"bad key": "v"}), 422, "invalid_metadata", key=app)
error("POST", "/v1/accounts/alice/deposits", {"id": "dep-m", "amount": 5, "metadata": {"k": "v"}}, 400, "malformed_request")
error("POST", "/v1/transfers", dict(transfer, amount=2501), 409, "id_reused", key=app)
error("POST", "/v1/transfers", dict(transfer, id="t-2", amount=10**9), 422, "insufficient_funds", key=app)
error("POST", "/v1/transfers", dict(transfer, id="t-3", to="nobody"), 404, "counterparty_not_found", key=app)
error("POST", "/v1/transfers", dict(transfer, id="t-4", from_="x"), 400, "malformed_request", key=app)
status, _ = call("POST", "/v1/transfers", key=app, raw=b'{"id": "t-5", "from": ')
check(status == 400, f"malformed JSON -> 400, got {status}")
status, _ = call("POST", "/v1/transfers", key=app, raw=b'{"id": "' + b"x" * 70000 + b'"}')
check(status in (400, 413), f"oversized body refused, got {status}")
check(ok("GET", "/v1/accounts/bob", key=app)["balance"] == 2500, "bob got 2500 once")
history = ok("GET", "/v1/accounts/alice/history", key=app)["data"]
check([line["amount"] for line in history] == [-2500, 100000], f"history, newest first {history}")
page = ok("GET", f"/v1/accounts/alice/history?limit=1&starting_after={history[0]['id']}", key=app)
check([line["amount"] for line in page["data"]] == [100000] and page["has_more"] is False, f"second page {page}")

batch = {"atomic": True, "transfers": [
    {"id": "b-1", "from": "alice", "to": "bob", "amount": 100, "currency": "EUR"},
    {"id": "b-2", "from": "bob", "to": "alice", "amount": 10**8, "currency": "EUR"}]}
answer = error("POST", "/v1/transfers/batch", batch, 422, "insufficient_funds", key=app)
# The refusal names the transfer that failed: its number in the batch (from 0) and its id.
check((answer["error"]["leg"], answer["error"]["transfer"]) == (1, "b-2"), f"the failing leg is named {answer}")
check(ok("GET", "/v1/accounts/bob", key=app)["balance"] == 2500, "an atomic batch that fails applies nothing")
first_fails = dict(batch, transfers=[dict(batch["transfers"][1], id="b-0"), batch["transfers"][0]])
answer = error("POST", "/v1/transfers/batch", first_fails, 422, "insufficient_funds", key=app)
check((answer["error"]["leg"], answer["error"]["transfer"]) == (0, "b-0"), f"leg 0 is named too {answer}")
answer = error("POST", "/v1/transfers", dict(transfer, id="t-2b", amount=10**8), 422, "insufficient_funds", key=app)
check("leg" not in answer["error"] and "transfer" not in answer["error"], f"no leg outside a batch {answer}")
batch["atomic"] = False
answer = ok("POST", "/v1/transfers/batch", batch, key=app)
check([r["status"] for r in answer["results"]] == ["applied", "rejected"], f"unlinked batch {answer}")

hold = ok("POST", "/v1/holds", {"id": "h-1", "from": "alice", "to": "bob", "amount": 1000, "currency": "EUR", "expires_in_s": 60}, key=app)
check(hold["status"] == "active", f"hold {hold}")
account = ok("GET", "/v1/accounts/alice", key=app)
check(account["held"] == 1000 and account["available"] == account["balance"] - 1000, f"held counts: {account}")
capture = ok("POST", "/v1/holds/h-1/capture", {"amount": 600}, key=app)
check(capture["captured"] == 600 and capture["released"] == 400, f"capture {capture}")
error("POST", "/v1/holds/h-1/void", None, 422, "hold_already_resolved", key=app)
error("POST", "/v1/holds/h-1/capture", {"amount": 1}, 422, "hold_already_resolved", key=app)
error("POST", "/v1/holds/h-1/capture", {"amount": 1}, 403, "forbidden", key=other_app)

# A transfer by id, the app's holds, and the event feed (each tenant sees its own).
found = ok("GET", "/v1/transfers/t-1", key=app)
check((found["status"], found["from"], found["to"], found["amount"]) == ("posted", "alice", "bob", 2500), f"transfer {found}")
check(found["metadata"] == {"order_id": "A-1001"}, f"the transfer's first metadata: {found}")
error("GET", "/v1/transfers/t-1", None, 403, "forbidden", key=other_app)
holds = ok("GET", "/v1/holds?limit=10", key=app)
check([h["id"] for h in holds["data"]] == ["h-1"] and holds["has_more"] is False, f"the app's holds {holds}")
check(ok("GET", "/v1/holds", key=other_app)["data"] == [], "another app lists no holds of this one")


def feed(key, limit, after=None):
    """Every event `key` may see after `after`, `limit` at a time; and the cursor to go on from."""
    events = []
    while True:
        page = ok("GET", f"/v1/events?limit={limit}" + (f"&after={after}" if after else ""), key=key)
        events += page["data"]
        after = page["next_after"]
        if not page["has_more"]:
            return events, after


mine, last = feed(app, 3)
subjects = {event.get("account") or event.get("object_id") for event in mine}
check(subjects == {"alice", "bob", "h-1", "t-1"}, f"the app's feed is about its own objects: {subjects}")
annotated = [event for event in mine if event["type"] == "annotated"]
check([(e["object"], e["object_id"], e["metadata"]) for e in annotated] == [("transfer", "t-1", {"order_id": "A-1001"})],
      f"the transfer's metadata is in the feed once: {annotated}")
postings = [e["amount"] for e in mine if e["type"] == "posting" and e["ref"] == "t-1"]
check(postings == [-2500, 2500], f"the transfer's two postings: {postings}")
check(feed(other_app, 100)[0] == [], "another app's feed is empty")
ok("POST", "/v1/accounts", {"id": "carol", "currency": "EUR"}, key=app)
waited = ok("GET", f"/v1/events?after={last}&wait_ms=5000", key=app)
check([e.get("object_id") for e in waited["data"]] == ["carol"], f"the feed resumes after its cursor: {waited}")

# Merchants, terminals, operators (admin), one terminal signing with a MAC key.
ok("POST", "/v1/accounts", {"id": "shop", "currency": "EUR"})
ok("POST", "/v1/merchants", {"id": "m-cafe", "account": "shop"})
ok("POST", "/v1/terminals", {"id": "T0000001", "merchant": "m-cafe"})
MAC_KEY = bytes(range(32))
ok("POST", "/v1/terminals", {"id": "T0000002", "merchant": "m-cafe", "mac_key": MAC_KEY.hex()})
ok("POST", "/v1/operators", {"id": "op-cafe", "merchant": "m-cafe"})
ok("POST", "/v1/accounts", {"id": "shop2", "currency": "EUR"})
ok("POST", "/v1/merchants", {"id": "m-deli", "account": "shop2"})
ok("POST", "/v1/operators", {"id": "op-deli", "merchant": "m-deli"})
operator = ok("POST", "/v1/keys", {"role": "operator", "operator": "op-cafe"})["key"]
rival_operator = ok("POST", "/v1/keys", {"role": "operator", "operator": "op-deli"})["key"]
merchant = ok("POST", "/v1/keys", {"role": "merchant", "merchant": "m-cafe"})["key"]

USER = "4000001234567890"
def authorize(auth_id, limit):
    answer = ok("POST", "/v1/authorizations", {"id": auth_id, "user": USER, "account": "alice", "limit": limit, "expires_in_s": 600}, key=app)
    check(len(answer["code"]) == 8 and answer["code"].isdigit(), f"secure code {answer}")
    now_s = int(time.time())
    check(now_s + 590 <= answer["expires_at"] <= now_s + 610, f"expires_at is Unix seconds: {answer}")
    check(answer["expires_at_ms"] // 1000 == answer["expires_at"], f"expires_at_ms matches: {answer}")
    return answer["code"]

code = authorize("auth-1", 5000)
check(authorize("auth-1", 5000) == code, "a retried authorization shows the same code")
settled = ok("POST", "/v1/pos/settlements", {"id": "pos-http-1", "user": USER, "code": code, "amount": 1200, "terminal": "T0000001"}, key=merchant)
check(settled["approved"] is True and len(settled["approval_code"]) == 6, f"HTTP settlement {settled}")
again = ok("POST", "/v1/pos/settlements", {"id": "pos-http-2", "user": USER, "code": code, "amount": 100, "terminal": "T0000001"}, key=merchant)
check(again["approved"] is False and again["decline_code"] == "code_already_used", f"single use {again}")

# Bills: the app opens, the merchant adds items and submits, the user's app confirms.
ok("POST", "/v1/bills", {"id": "bill-1", "user": USER, "account": "alice", "merchant": "m-cafe", "expires_in_s": 600}, key=app)
ok("POST", "/v1/bills/bill-1/items", {"terminal": "T0000001", "item_ref": "espresso", "quantity": 2, "unit_amount": 280}, key=merchant)
error("POST", "/v1/bills/bill-1/items", {"terminal": "T0000001", "item_ref": "x", "quantity": 1, "unit_amount": 1}, 403, "forbidden", key=other_app)
submitted = ok("POST", "/v1/bills/bill-1/submit", None, key=merchant)
check(submitted["total"] == 560 and submitted["challenge"] is None, f"the merchant sees the total, not the challenge: {submitted}")
challenge = ok("POST", "/v1/bills/bill-1/submit", None, key=app)["challenge"]
error("POST", "/v1/bills/bill-1/confirm", {"challenge": "000000" if challenge != "000000" else "000001"}, 422, "incorrect_code", key=app)
paid = ok("POST", "/v1/bills/bill-1/confirm", {"challenge": challenge}, key=app)
check(paid["status"] == "paid" and paid["charged"] == 560, f"bill paid {paid}")

# Refunds: part of a settlement or bill goes back from the merchant's account; a retry with the
# same refund id is answered again and moves nothing. The merchant (or admin) refunds.
def balances():
    return ok("GET", "/v1/accounts/alice", key=app)["balance"], ok("GET", "/v1/accounts/shop")["balance"]

alice_before, shop_before = balances()
refunds_path = "/v1/pos/settlements/pos-http-1/refunds"
refunded = ok("POST", refunds_path, {"id": "rf-1", "amount": 500}, key=merchant)
check(refunded == {"id": "rf-1", "settlement": "pos-http-1", "amount": 500, "remaining": 700}, f"partial refund {refunded}")
check(ok("POST", refunds_path, {"id": "rf-1", "amount": 500}, key=merchant) == refunded, "a retried refund gets the first answer")
check(balances() == (alice_before + 500, shop_before - 500), "a retried refund moves the money once")
error("POST", refunds_path, {"id": "rf-1", "amount": 400}, 409, "id_reused", key=merchant)
error("POST", refunds_path, {"id": "rf-2", "amount": 701}, 422, "refund_exceeds_charge", key=merchant)
error("POST", refunds_path, {"id": "rf-2", "amount": 0}, 422, "invalid_amount", key=merchant)
error("POST", "/v1/pos/settlements/pos-http-2/refunds", {"id": "rf-1", "amount": 1}, 422, "not_reversible", key=merchant)
error("POST", "/v1/pos/settlements/pos-nobody/refunds", {"id": "rf-1", "amount": 1}, 404, "settlement_not_found")  # admin: tenants get 403
error("POST", refunds_path, {"id": "rf-2", "amount": 1}, 403, "forbidden", key=app)  # the payer's app may not refund
for key in (other_app, rival_operator):
    status, answer = call("POST", refunds_path, {"id": "rf-x", "amount": 1}, key)
    check(status in (403, 404), f"another tenant may not refund: {status} {answer}")
    status, answer = call("GET", "/v1/pos/settlements/pos-http-1", key=key)
    check(status in (403, 404), f"nor see the settlement: {status} {answer}")
second = ok("POST", refunds_path, {"id": "rf-2", "amount": 200})
check((second["amount"], second["remaining"]) == (200, 500), f"the admin refunds too {second}")
found = ok("GET", "/v1/pos/settlements/pos-http-1", key=merchant)
check(found["refunded"] == 700 and found["refunds"] == [{"id": "rf-1", "amount": 500}, {"id": "rf-2", "amount": 200}],
      f"the settlement shows its refunds {found}")
check(found["reversed"] is False and found["charged"] == 1200, f"and still what it charged {found}")
# A reversal gives back only what the refunds left; nothing is refundable after it.
ok("POST", "/v1/pos/settlements/pos-http-1/reverse", None, key=merchant)
check(balances() == (alice_before + 1200, shop_before - 1200), "the reversal gave back the other 500")
error("POST", refunds_path, {"id": "rf-3", "amount": 1}, 422, "refund_exceeds_charge", key=merchant)

bill_refunds = "/v1/bills/bill-1/refunds"
alice_before, shop_before = balances()
refunded = ok("POST", bill_refunds, {"id": "rf-1", "amount": 60}, key=merchant)  # ids are scoped by the bill
check(refunded == {"id": "rf-1", "bill": "bill-1", "amount": 60, "remaining": 500}, f"bill refund {refunded}")
check(ok("POST", bill_refunds, {"id": "rf-1", "amount": 60}, key=merchant) == refunded, "a retried bill refund gets the first answer")
check(balances() == (alice_before + 60, shop_before - 60), "a retried bill refund moves the money once")
error("POST", bill_refunds, {"id": "rf-1", "amount": 61}, 409, "id_reused", key=merchant)
error("POST", bill_refunds, {"id": "rf-2", "amount": 501}, 422, "refund_exceeds_charge", key=merchant)
error("POST", bill_refunds, {"id": "rf-2", "amount": 1}, 403, "forbidden", key=app)  # the app opened it, but may not refund
for key in (other_app, rival_operator):
    status, answer = call("POST", bill_refunds, {"id": "rf-x", "amount": 1}, key)
    check(status in (403, 404), f"another tenant may not refund the bill: {status} {answer}")
bill = ok("GET", "/v1/bills/bill-1", key=app)
check(bill["refunded"] == 60 and bill["refunds"] == [{"id": "rf-1", "amount": 60}], f"the bill shows its refunds {bill}")
check(bill["status"] == "paid" and bill["charged"] == 560, f"and stays paid {bill}")

# Splits.
for account in ["carol", "dave"]:
    ok("POST", "/v1/accounts", {"id": account, "currency": "EUR"}, key=app)
    ok("POST", f"/v1/accounts/{account}/deposits", {"id": f"dep-{account}", "amount": 5000})
split = ok("POST", "/v1/splits", {"id": "dinner", "requester": "u-bob", "requester_account": "bob", "total": 1001, "currency": "EUR",
                                  "members": [{"user": "u-carol", "account": "carol"}, {"user": "u-dave", "account": "dave"}], "expires_in_s": 600}, key=app)
check([m["share"] for m in split["members"]] == [501, 500], f"equal shares, remainder first: {split}")


def split_balances():
    return tuple(ok("GET", f"/v1/accounts/{account}", key=app)["balance"] for account in ["carol", "dave", "bob"])

carol_before, dave_before, _ = split_balances()
ok("POST", "/v1/splits/dinner/pay", {"member": "u-carol"}, key=app)
error("POST", "/v1/splits/dinner/pay", {"member": "u-carol"}, 422, "already_paid", key=app)
done = ok("POST", "/v1/splits/dinner/pay", {"member": "u-dave"}, key=app)
check(done["completed"] is True and done["status"] == "completed", f"split completed {done}")

# A completed split is refunded whole by the app that requested it (or the admin): the
# requester's account pays every member back its share; a retry is answered again and moves nothing.
_, _, bob_before = split_balances()
refunded = ok("POST", "/v1/splits/dinner/refund", None, key=app)
check(refunded["status"] == "refunded" and refunded["refunded"] == split["total"] == 1001, f"split refunded {refunded}")
check(split_balances() == (carol_before, dave_before, bob_before - 1001), "the members are paid back, the requester pays the total")
check(ok("POST", "/v1/splits/dinner/refund", None, key=app) == refunded, "a retried split refund gets the first answer")
check(split_balances() == (carol_before, dave_before, bob_before - 1001), "a retried split refund moves the money once")
check(ok("GET", "/v1/splits/dinner", key=app)["status"] == "refunded", "the split shows it was refunded")
status, answer = call("POST", "/v1/splits/dinner/refund", None, other_app)
check(status in (403, 404), f"another tenant may not refund the split: {status} {answer}")
error("POST", "/v1/splits/nobody/refund", None, 404, "split_not_found")  # admin: tenants get 403

# Coupons: issue, share to the pool, a contact claims, the operator redeems; wrong merchant 403.
coupon = ok("POST", "/v1/coupons", {"id": "cpn-1", "merchant": "m-cafe", "holder": "u-bob", "currency": "EUR",
                                    "rule": {"type": "percent_off", "percent": "12.5", "cap": 500, "min_spend": 1000},
                                    "expires_in_s": 3600, "reward": {"type": "fixed_off", "amount": 200}}, key=merchant)
check(len(coupon["code"]) == 12, f"coupon code {coupon}")
ok("POST", "/v1/contacts", {"user": "u-bob", "contact": "u-carol"}, key=app)
ok("POST", "/v1/coupons/cpn-1/share", {"user": "u-bob"}, key=app)
check(ok("GET", "/v1/users/u-carol/claimable", key=app)["coupons"] == ["cpn-1"], "pool visible to contacts")
claimed = ok("POST", "/v1/coupons/cpn-1/claim", {"user": "u-carol"}, key=app)
check(claimed["code"] != coupon["code"] and len(claimed["code"]) == 12, f"the claimer gets its own code {claimed}")
error("POST", "/v1/coupons/verify", {"code": coupon["code"], "amount": 2399}, 404, "coupon_not_found", key=operator)
coupon["code"] = claimed["code"]
quote = ok("POST", "/v1/coupons/verify", {"code": coupon["code"], "amount": 2399}, key=operator)
check(quote["discount"] == 300 and quote["payable"] == 2099, f"12.5% of 2399 rounds half-even to 300: {quote}")
error("POST", "/v1/coupons/verify", {"code": coupon["code"], "amount": 2399}, 403, "wrong_merchant", key=rival_operator)
error("POST", "/v1/coupons/redeem", {"id": "red-x", "code": coupon["code"], "amount": 2399}, 403, "wrong_merchant", key=rival_operator)
error("POST", "/v1/coupons/redeem", {"id": "red-y", "code": coupon["code"], "amount": 2399}, 403, "forbidden", key=app)
redeemed = ok("POST", "/v1/coupons/redeem", {"id": "red-1", "code": coupon["code"], "amount": 2399}, key=operator)
check(redeemed["discount"] == 300 and redeemed["reward_coupon"], f"redeemed with a reward for the sharer: {redeemed}")
error("POST", "/v1/coupons/redeem", {"id": "red-2", "code": coupon["code"], "amount": 2399}, 422, "coupon_redeemed", key=operator)
# The sharer finds the reward its contact's redemption earned it (an id it cannot compute).
held = ok("GET", "/v1/users/u-bob/coupons", key=app)
check([c["id"] for c in held["data"]] == [redeemed["reward_coupon"]] and held["has_more"] is False, f"reward listed {held}")
check(len(held["data"][0]["code"]) == 12, f"with its code {held}")
carol = ok("GET", "/v1/users/u-carol/coupons?limit=1", key=app)
check([c["id"] for c in carol["data"]] == ["cpn-1"] and carol["data"][0]["status"] == "redeemed", f"claimed coupon {carol}")
error("GET", "/v1/users/u-bob/coupons", None, 403, "forbidden", key=rival_operator)

# ----- ISO 8583 (pyiso8583 as the client) ----------------------------------------------------

def iso_connect():
    sock = socket.create_connection((ISO_HOST, int(ISO_PORT)), timeout=10)
    sock.settimeout(10)
    return sock


def recv_exact(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def exchange(sock, doc, mac_key=None):
    if mac_key is not None:
        unsigned, _ = iso8583.encode(dict(doc), SPEC)
        doc = dict(doc)
        doc["64"] = hmac.new(mac_key, unsigned, hashlib.sha256).digest()[:8].hex().upper()
    raw, _ = iso8583.encode(dict(doc), SPEC)
    sock.sendall(struct.pack(">H", len(raw)) + raw)
    length = struct.unpack(">H", recv_exact(sock, 2))[0]
    body = recv_exact(sock, length)
    answer, _ = iso8583.decode(body, SPEC)
    return answer, body


def purchase(mti, stan, code, amount, terminal="T0000001"):
    return {"t": mti, "2": USER, "3": "000000", "4": f"{amount:012d}", "7": "1125120000", "11": f"{stan:06d}",
            "41": terminal, "42": "m-cafe".ljust(15), "48": code, "49": "978"}


sock = iso_connect()
answer, _ = exchange(sock, {"t": "0800", "7": "1125120000", "11": "000001", "70": "301"})
check(answer["t"] == "0810" and answer["39"] == "00", f"echo {answer}")

code = authorize("auth-iso-1", 5000)
balance_before = ok("GET", "/v1/accounts/alice", key=app)["balance"]
answer, _ = exchange(sock, purchase("0200", 101, code, 1234))
check(answer["t"] == "0210" and answer["39"] == "00" and len(answer["38"]) == 6, f"0200 approved {answer}")
check(answer["11"] == "000101" and answer["4"] == "000000001234", "echoed STAN and amount")
repeat, _ = exchange(sock, purchase("0200", 101, code, 1234))
check(repeat["39"] == "00" and repeat["38"] == answer["38"], f"a repeated STAN gets the original answer {repeat}")
check(ok("GET", "/v1/accounts/alice", key=app)["balance"] == balance_before - 1234, "charged once")
duplicate, _ = exchange(sock, purchase("0200", 101, code, 999))
check(duplicate["39"] == "94", f"same STAN, other body -> 94: {duplicate}")
used, _ = exchange(sock, purchase("0200", 102, code, 10))
check(used["39"] == "05", f"a used code -> 05: {used}")

code = authorize("auth-iso-2", 5000)
over, _ = exchange(sock, purchase("0200", 103, code, 10**9))
check(over["39"] in ("05", "51"), f"over the limit is declined {over}")
zero, _ = exchange(sock, purchase("0200", 104, code, 0))
check(zero["39"] == "13", f"zero amount -> 13: {zero}")
unknown, _ = exchange(sock, purchase("0200", 105, code, 10, terminal="T9999999"))
check(unknown["39"] == "05", f"unknown terminal -> 05: {unknown}")

# 0100 places a hold; 0400 reverses it.
hold, _ = exchange(sock, purchase("0100", 106, code, 700))
check(hold["t"] == "0110" and hold["39"] == "00", f"0100 approved {hold}")
check(ok("GET", "/v1/accounts/alice", key=app)["held"] == 700, "0100 holds the amount")
reversal, _ = exchange(sock, {"t": "0400", "2": USER, "4": "000000000700", "7": "1125120100", "11": "000107",
                              "41": "T0000001", "90": "0100000106" + "1125120000" + "0" * 22})
check(reversal["t"] == "0410" and reversal["39"] == "00", f"0400 reversal {reversal}")
check(ok("GET", "/v1/accounts/alice", key=app)["held"] == 0, "the reversal released the hold")
reverse_settle, _ = exchange(sock, {"t": "0400", "2": USER, "4": "000000001234", "7": "1125120000", "11": "000101",
                                    "41": "T0000001"})
check(reverse_settle["39"] == "00", f"0400 of the 0200 by its STAN and field 7 {reverse_settle}")
check(ok("GET", "/v1/accounts/alice", key=app)["balance"] == balance_before, "the reversal refunded the purchase")

# MAC terminal: signed requests pass and answers are signed; forged MACs are refused.
code = authorize("auth-iso-3", 5000)
signed, body = exchange(sock, purchase("0200", 201, code, 50, terminal="T0000002"), mac_key=MAC_KEY)
check(signed["39"] == "00", f"signed request approved {signed}")
unsigned_answer = dict(signed)
del unsigned_answer["64"]
for field in ("p", "s", "b", "1"):
    unsigned_answer.pop(field, None)
expected_mac = hmac.new(MAC_KEY, iso8583.encode(unsigned_answer, SPEC)[0], hashlib.sha256).digest()[:8].hex().upper()
check(signed["64"] == expected_mac, "the answer carries a valid MAC")
forged, _ = exchange(sock, purchase("0200", 202, code, 50, terminal="T0000002"), mac_key=b"x" * 32)
check(forged["39"] == "05", f"forged MAC -> 05: {forged}")
missing, _ = exchange(sock, purchase("0200", 203, code, 50, terminal="T0000002"))
check(missing["39"] == "05", f"missing MAC -> 05: {missing}")

# Brute force: wrong codes lock the user out (75), even for the right code.
code = authorize("auth-iso-4", 5000)
wrong = "00000000" if code != "00000000" else "00000001"
codes = [exchange(sock, purchase("0200", 300 + n, wrong, 10))[0]["39"] for n in range(5)]
check(codes == ["55"] * 5, f"wrong codes -> 55: {codes}")
locked, _ = exchange(sock, purchase("0200", 310, code, 10))
check(locked["39"] == "75", f"locked out -> 75: {locked}")

# Malformed input on one connection never disturbs another.
bad = iso_connect()
bad.sendall(struct.pack(">H", 12) + b"0200ZZZZZZZZ")
try:
    length = struct.unpack(">H", recv_exact(bad, 2))[0]
    malformed, _ = iso8583.decode(recv_exact(bad, length), SPEC)
    check(malformed["39"] == "30", f"malformed -> 30: {malformed}")
except (ConnectionError, socket.timeout):
    pass  # a logged close is the other allowed answer
oversized = iso_connect()
oversized.sendall(b"\xff\xff" + b"0" * 100)
try:
    check(oversized.recv(10) == b"", "an oversized frame closes the connection")
except ConnectionResetError:
    pass
answer, _ = exchange(sock, {"t": "0800", "7": "1125120000", "11": "000002", "70": "301"})
check(answer["39"] == "00", "the good connection still works")
sock.close()

metrics = call("GET", "/metrics", key=None)[1]
check("kassa_iso8583_responses_total" in metrics and "kassa_commands_total" in metrics, "metrics exposed")
print(f"kassa clients: {CHECKS} checks passed (HTTP via urllib, ISO 8583 via pyiso8583 {iso8583.__version__})")
