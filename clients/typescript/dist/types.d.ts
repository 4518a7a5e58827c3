import type { U64 } from "./codec.js";
export type { U64 };
/** Supported ISO 4217 currencies: alpha code -> numeric code (the wire value). */
export declare const CURRENCIES: {
    readonly AED: 784;
    readonly AUD: 36;
    readonly BHD: 48;
    readonly BRL: 986;
    readonly CAD: 124;
    readonly CHF: 756;
    readonly CLP: 152;
    readonly CNY: 156;
    readonly CZK: 203;
    readonly DKK: 208;
    readonly EUR: 978;
    readonly GBP: 826;
    readonly HKD: 344;
    readonly HUF: 348;
    readonly IDR: 360;
    readonly ILS: 376;
    readonly INR: 356;
    readonly ISK: 352;
    readonly JOD: 400;
    readonly JPY: 392;
    readonly KRW: 410;
    readonly KWD: 414;
    readonly MXN: 484;
    readonly MYR: 458;
    readonly NOK: 578;
    readonly NZD: 554;
    readonly OMR: 512;
    readonly PHP: 608;
    readonly PLN: 985;
    readonly SAR: 682;
    readonly SEK: 752;
    readonly SGD: 702;
    readonly THB: 764;
    readonly TND: 788;
    readonly TRY: 949;
    readonly TWD: 901;
    readonly USD: 840;
    readonly VND: 704;
    readonly ZAR: 710;
};
/** A currency's alpha code ("EUR"); decoded currencies are alpha codes. */
export type CurrencyCode = keyof typeof CURRENCIES;
/** A currency as accepted on input: alpha code or ISO numeric code (978). */
export type Currency = CurrencyCode | number;
/** `Id`: 1..=64 bytes of [A-Za-z0-9._:-]. */
export type Id = string;
/** `Decimal`: decimal text such as "12.5". */
export type Decimal = string;
export interface GeoPoint {
    latitudeE6: number;
    longitudeE6: number;
}
export interface SplitMember {
    user: Id;
    account: Id;
}
export type SplitShares = {
    kind: "Equal";
} | {
    kind: "Explicit";
    shares: readonly U64[];
};
export type DeductionKind = {
    kind: "PercentOff";
    percent: Decimal;
    cap?: U64 | null;
} | {
    kind: "FixedOff";
    amount: U64;
} | {
    kind: "SpendSave";
    threshold: U64;
    save: U64;
};
export interface DeductionRule {
    kind: DeductionKind;
    minSpend: U64;
}
export type AdjustmentCondition = {
    kind: "TimeWindow";
    fromMs: U64;
    untilMs: U64;
} | {
    kind: "Location";
    center: GeoPoint;
    radiusM: number;
};
export interface ValueAdjustment {
    condition: AdjustmentCondition;
    factorPercent: number;
}
export type Principal = {
    kind: "Admin";
} | {
    kind: "Merchant";
    id: Id;
} | {
    kind: "Operator";
    id: Id;
} | {
    kind: "App";
    id: Id;
} | {
    kind: "Terminal";
    id: Id;
};
export declare const OBJECT_KINDS: readonly ["Account", "Hold", "Merchant", "Terminal", "Operator", "Authorization", "Bill", "Split", "User", "Coupon", "ApiKey", "Settlement"];
export type ObjectKind = (typeof OBJECT_KINDS)[number];
/** The fields of a transfer (Command::Transfer, and each element of TransferBatch). */
export interface TransferFields {
    id: Id;
    from: Id;
    to: Id;
    amount: U64;
    currency: Currency;
}
/** Every engine command; `kind` is the variant (wire index in COMMAND_KINDS). */
export type Command = {
    kind: "OpenAccount";
    account: Id;
    currency: Currency;
    overdraftLimit: U64;
} | {
    kind: "CloseAccount";
    account: Id;
} | {
    kind: "Deposit";
    id: Id;
    account: Id;
    amount: U64;
} | {
    kind: "Withdraw";
    id: Id;
    account: Id;
    amount: U64;
} | ({
    kind: "Transfer";
} & TransferFields) | {
    kind: "TransferBatch";
    atomic: boolean;
    transfers: readonly TransferFields[];
} | {
    kind: "PlaceHold";
    id: Id;
    from: Id;
    to: Id;
    amount: U64;
    currency: Currency;
    expiresAtMs: U64;
} | {
    kind: "CaptureHold";
    hold: Id;
    amount: U64;
} | {
    kind: "VoidHold";
    hold: Id;
} | {
    kind: "RegisterMerchant";
    merchant: Id;
    account: Id;
} | {
    kind: "RegisterTerminal";
    terminal: Id;
    merchant: Id;
    macKey?: Uint8Array | null;
    location?: GeoPoint | null;
} | {
    kind: "RegisterOperator";
    operator: Id;
    merchant: Id;
} | {
    kind: "Authorize";
    id: Id;
    user: Id;
    account: Id;
    limit: U64;
    expiresAtMs: U64;
    nonce: U64;
} | {
    kind: "SettlePos";
    id: Id;
    user: Id;
    code: string;
    amount: U64;
    currency: Currency;
    terminal: Id;
    coupon?: Id | null;
    holdUntilMs?: U64 | null;
    location?: GeoPoint | null;
} | {
    kind: "ReversePos";
    settlement: Id;
} | {
    kind: "OpenBill";
    bill: Id;
    user: Id;
    account: Id;
    merchant: Id;
    opensAtMs: U64;
    closesAtMs: U64;
} | {
    kind: "AddBillItem";
    bill: Id;
    terminal: Id;
    itemRef: string;
    quantity: number;
    unitAmount: U64;
} | {
    kind: "SubmitBill";
    bill: Id;
    nonce: U64;
} | {
    kind: "ConfirmBill";
    bill: Id;
    challenge: string;
    coupon?: Id | null;
    location?: GeoPoint | null;
} | {
    kind: "CancelBill";
    bill: Id;
} | {
    kind: "RequestSplit";
    split: Id;
    requester: Id;
    requesterAccount: Id;
    total: U64;
    currency: Currency;
    members: readonly SplitMember[];
    shares: SplitShares;
    expiresAtMs: U64;
} | {
    kind: "PaySplitShare";
    split: Id;
    member: Id;
} | {
    kind: "CancelSplit";
    split: Id;
} | {
    kind: "AddContact";
    user: Id;
    contact: Id;
} | {
    kind: "IssueCoupon";
    coupon: Id;
    merchant: Id;
    holder: Id;
    currency: Currency;
    rule: DeductionRule;
    adjustments: readonly ValueAdjustment[];
    validFromMs: U64;
    validUntilMs: U64;
    reward?: DeductionRule | null;
    nonce: U64;
} | {
    kind: "ShareCoupon";
    coupon: Id;
    user: Id;
} | {
    kind: "ClaimCoupon";
    coupon: Id;
    claimer: Id;
    nonce: U64;
} | {
    kind: "RedeemCoupon";
    id: Id;
    operator: Id;
    code: string;
    amount: U64;
    location?: GeoPoint | null;
} | {
    kind: "RegisterApiKey";
    keyId: Id;
    role: Principal;
    secretHash: Uint8Array;
} | {
    kind: "RevokeApiKey";
    keyId: Id;
} | {
    kind: "Tick";
} | {
    kind: "RevokeAuthorization";
    authorization: Id;
}
/** Gives back part of an approved POS settlement `of`; `refund` is this refund's own id, scoped
 * by `of` (a retry with the same id and amount gets the first answer; another amount is IdReused). */
 | {
    kind: "RefundPos";
    of: Id;
    refund: Id;
    amount: U64;
}
/** Gives back part of a paid bill `of`, with the same retry rules as RefundPos. */
 | {
    kind: "RefundBill";
    of: Id;
    refund: Id;
    amount: U64;
}
/** Refunds a completed split whole: the requester's account pays every member's account back its
 * share, all or nothing. Answered Refunded { amount: total, remaining: 0 }, again to a retry; a
 * split that is not completed is NotReversible. */
 | {
    kind: "RefundSplit";
    split: Id;
};
export type CommandKind = Command["kind"];
/** `Rejection` names in wire order (index = variant). */
export declare const REJECTIONS: readonly ["IdReused", "AlreadyExists", "AccountNotFound", "CounterpartyNotFound", "AccountClosed", "AccountNotEmpty", "CurrencyMismatch", "SameAccount", "InvalidAmount", "InsufficientFunds", "Overflow", "LinkedTransferFailed", "InvalidBatch", "HoldNotFound", "HoldAlreadyResolved", "ExceedsHold", "InvalidExpiry", "Expired", "MerchantNotFound", "TerminalNotFound", "OperatorNotFound", "WrongMerchant", "TooManyAuthorizations", "IncorrectCode", "CodeAlreadyUsed", "CodeTriesExceeded", "ExceedsLimit", "BillNotFound", "BillNotOpen", "OutsideWindow", "BillEmpty", "TooManyItems", "InvalidField", "SplitNotFound", "SplitClosed", "NotAMember", "AlreadyPaid", "InvalidShares", "CouponNotFound", "CouponNotValid", "CouponRedeemed", "NotCouponHolder", "CouponNotShared", "CouponShared", "NotAContact", "BelowMinimumSpend", "InvalidRule", "LimitReached", "SettlementNotFound", "NotReversible", "Forbidden", "KeyNotFound", "IdTableFull", "CrossPartition", "CodeRevoked", "AuthorizationNotFound", "RefundExceedsCharge", "TooManyRefunds", "MetadataNotSupported"];
export type Rejection = (typeof REJECTIONS)[number];
/** The HTTP API's snake_case code of a rejection ("insufficient_funds"). */
export declare function rejectionCode(rejection: Rejection): string;
/** What an applied command answers. Decoded u64 fields are bigints. */
export type Reply = {
    kind: "Done";
} | {
    kind: "TransferBatch";
    outcomes: readonly Outcome[];
} | {
    kind: "Captured";
    captured: U64;
    released: U64;
} | {
    kind: "Authorized";
    code: string;
    expiresAtMs: U64;
} | {
    kind: "Settled";
    approvalCode: string;
    charged: U64;
    discount: U64;
} | {
    kind: "BillSubmitted";
    total: U64;
    challenge: string;
} | {
    kind: "BillPaid";
    charged: U64;
    discount: U64;
} | {
    kind: "SplitRequested";
    shares: readonly U64[];
} | {
    kind: "SharePaid";
    amount: U64;
    completed: boolean;
} | {
    kind: "SplitCancelled";
    refunded: U64;
} | {
    kind: "CouponIssued";
    code: string;
} | {
    kind: "CouponRedeemed";
    discount: U64;
    payable: U64;
    rewardCoupon?: Id | null;
} | {
    kind: "Ticked";
    expired: number;
} | {
    kind: "ContactRequested";
} | {
    kind: "CouponClaimed";
    code: string;
}
/** Given back by this refund, and what may still be refunded after it. */
 | {
    kind: "Refunded";
    amount: U64;
    remaining: U64;
};
/** The result of one command: applied with a reply, or rejected (nothing changed). */
export type Outcome = {
    kind: "Applied";
    reply: Reply;
} | {
    kind: "Rejected";
    rejection: Rejection;
}
/** An atomic TransferBatch refused as a whole: transfer number `leg` (from 0) was refused. */
 | {
    kind: "BatchRejected";
    leg: number;
    rejection: Rejection;
};
export declare const ID_LENGTH_MAX = 64;
/** Why `text` is not a valid Id ("" when it is one). */
export declare function idProblem(text: string): string;
export declare const METADATA_ENTRIES_MAX = 16;
export declare const METADATA_KEY_LENGTH_MAX = 40;
export declare const METADATA_VALUE_LENGTH_MAX = 500;
/** `Metadata` as decoded: key -> value. */
export type Metadata = Readonly<Record<string, string>>;
/** `Metadata` as accepted: an object of strings, a Map, or [key, value] pairs (each key at most
 * once). At most 16 entries; keys of 1..=40 bytes of [A-Za-z0-9._:-]; values of at most 500
 * characters (code points, not UTF-16 units or bytes) without control characters
 * (U+0000..U+001F, U+007F..U+009F). */
export type MetadataInput = Metadata | ReadonlyMap<string, string> | ReadonlyArray<readonly [string, string]>;
/** The [key, value] pairs of metadata given in any accepted form, or why it is not one. */
export declare function metadataEntries(value: unknown): {
    entries: Array<readonly [unknown, unknown]>;
    problem: string;
};
/** Why `value` is not valid metadata ("" when it is one). */
export declare function metadataProblem(value: unknown): string;
/** Valid metadata's entries sorted by key (byte order: keys are ASCII), as the wire has them. */
export declare function sortedMetadata(value: MetadataInput): Array<readonly [string, string]>;
/** An object holding `entries` (as own properties, even a key named `__proto__`). */
export declare function metadataObject(entries: ReadonlyArray<readonly [string, string]>): Metadata;
export declare const DECIMAL_DIGITS_MAX = 28;
/** Why `text` is not a decimal the engine parses ("" when it is one): plain notation, at most
 * 28 digits. Stricter than the server on purpose: a value it refused would close the connection. */
export declare function decimalProblem(text: string): string;
/** The numeric code of a currency given by alpha or numeric code, or undefined if unsupported. */
export declare function currencyNumber(currency: unknown): number | undefined;
/** The alpha code of a supported numeric code, or undefined. */
export declare function currencyAlpha(numeric: number): CurrencyCode | undefined;
