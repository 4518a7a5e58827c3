// One value of every command and reply, with options set where there are any.

export function everyCommand() {
  const transfer = { id: "t-1", from: "alice", to: "bob", amount: 2n ** 64n - 1n, currency: "EUR" };
  const rule = { kind: { kind: "PercentOff", percent: "12.5", cap: 900 }, minSpend: 100 };
  const adjustments = [
    { condition: { kind: "TimeWindow", fromMs: 1, untilMs: 2 }, factorPercent: 150 },
    { condition: { kind: "Location", center: { latitudeE6: -90_000_000, longitudeE6: 180_000_000 }, radiusM: 300 }, factorPercent: 2 ** 32 - 1 },
  ];
  return [
    { kind: "OpenAccount", account: "alice", currency: "EUR", overdraftLimit: 5 },
    { kind: "CloseAccount", account: "alice" },
    { kind: "Deposit", id: "d-1", account: "alice", amount: 100 },
    { kind: "Withdraw", id: "w-1", account: "alice", amount: 70_000 },
    { kind: "Transfer", ...transfer },
    { kind: "TransferBatch", atomic: true, transfers: [transfer, { id: "t-2", from: "bob", to: "alice", amount: 1, currency: 414 }] },
    { kind: "PlaceHold", id: "h", from: "a", to: "b", amount: 1, currency: "USD", expiresAtMs: 1_700_000_000_000 },
    { kind: "CaptureHold", hold: "h", amount: 1 },
    { kind: "VoidHold", hold: "h" },
    { kind: "RegisterMerchant", merchant: "m", account: "a" },
    { kind: "RegisterTerminal", terminal: "T0000001", merchant: "m", macKey: Uint8Array.from({ length: 32 }, (_, i) => i),
      location: { latitudeE6: 48_856_600, longitudeE6: -2_352_200 } },
    { kind: "RegisterOperator", operator: "o", merchant: "m" },
    { kind: "Authorize", id: "z", user: "u", account: "a", limit: 5000, expiresAtMs: 2n ** 40n, nonce: 2n ** 63n },
    { kind: "SettlePos", id: "s", user: "u", code: "12345678", amount: 1, currency: "JPY", terminal: "t", coupon: "coupon-1", holdUntilMs: 99,
      location: { latitudeE6: 48_856_600, longitudeE6: 2_352_200 } },
    { kind: "ReversePos", settlement: "s" },
    { kind: "OpenBill", bill: "b", user: "u", account: "a", merchant: "m", opensAtMs: 0, closesAtMs: 1 },
    { kind: "AddBillItem", bill: "b", terminal: "t", itemRef: "sku-é", quantity: 3, unitAmount: 250 },
    { kind: "SubmitBill", bill: "b", nonce: 7 },
    { kind: "ConfirmBill", bill: "b", challenge: "challenge", coupon: "c", location: { latitudeE6: -(2 ** 31), longitudeE6: 2 ** 31 - 1 } },
    { kind: "CancelBill", bill: "b" },
    {
      kind: "RequestSplit", split: "p", requester: "u", requesterAccount: "a", total: 10, currency: "GBP",
      members: [{ user: "v", account: "c" }, { user: "w", account: "d" }], shares: { kind: "Explicit", shares: [4, 6] }, expiresAtMs: 1,
    },
    { kind: "PaySplitShare", split: "p", member: "v" },
    { kind: "CancelSplit", split: "p" },
    { kind: "AddContact", user: "u", contact: "v" },
    {
      kind: "IssueCoupon", coupon: "c", merchant: "m", holder: "u", currency: "CHF", rule, adjustments,
      validFromMs: 0, validUntilMs: 1, reward: { kind: { kind: "SpendSave", threshold: 10, save: 2 }, minSpend: 0 }, nonce: 1,
    },
    { kind: "ShareCoupon", coupon: "c", user: "u" },
    { kind: "ClaimCoupon", coupon: "c", claimer: "v", nonce: 1 },
    { kind: "RedeemCoupon", id: "r", operator: "o", code: "code", amount: 1, location: { latitudeE6: -1, longitudeE6: 1 } },
    { kind: "RegisterApiKey", keyId: "key", role: { kind: "Terminal", id: "T0000001" }, secretHash: new Uint8Array(32) },
    { kind: "RevokeApiKey", keyId: "key" },
    { kind: "Tick" },
    { kind: "RevokeAuthorization", authorization: "au-1" },
    { kind: "RefundPos", of: "s", refund: "rf-1", amount: 2n ** 64n - 1n },
    { kind: "RefundBill", of: "b", refund: "rf-1", amount: 1 },
    { kind: "RefundSplit", split: "p" },
  ];
}

export function everyReply() {
  return [
    { kind: "Done" },
    { kind: "TransferBatch", outcomes: [{ kind: "Applied", reply: { kind: "Done" } }, { kind: "Rejected", rejection: "LinkedTransferFailed" }] },
    { kind: "Captured", captured: 600, released: 400 },
    { kind: "Authorized", code: "12345678", expiresAtMs: 2n ** 50n },
    { kind: "Settled", approvalCode: "123456", charged: 1000, discount: 200 },
    { kind: "BillSubmitted", total: 1200, challenge: "" },
    { kind: "BillPaid", charged: 1, discount: 0 },
    { kind: "SplitRequested", shares: [1, 2, 3] },
    { kind: "SharePaid", amount: 5, completed: true },
    { kind: "SplitCancelled", refunded: 9 },
    { kind: "CouponIssued", code: "code" },
    { kind: "CouponRedeemed", discount: 1, payable: 2, rewardCoupon: "reward-1" },
    { kind: "Ticked", expired: 2 ** 32 - 1 },
    { kind: "ContactRequested" },
    { kind: "CouponClaimed", code: "new" },
    { kind: "Refunded", amount: 250, remaining: 2n ** 64n - 1n },
  ];
}
