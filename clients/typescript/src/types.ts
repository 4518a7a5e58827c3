// Engine value types, helper types, commands and outcomes (docs/protocol.md §6), as
// discriminated unions on `kind` (the Rust variant name). Field names are the wire names in
// camelCase; they are written in the order the codec's schemas give (schema.ts).
// Integers: u64 fields accept bigint or number and decode as bigint; u16/u32/i32 are numbers.

import type { U64 } from "./codec.js";

export type { U64 };

/** Supported ISO 4217 currencies: alpha code -> numeric code (the wire value). */
export const CURRENCIES = {
  AED: 784, AUD: 36, BHD: 48, BRL: 986, CAD: 124, CHF: 756, CLP: 152, CNY: 156, CZK: 203,
  DKK: 208, EUR: 978, GBP: 826, HKD: 344, HUF: 348, IDR: 360, ILS: 376, INR: 356, ISK: 352,
  JOD: 400, JPY: 392, KRW: 410, KWD: 414, MXN: 484, MYR: 458, NOK: 578, NZD: 554, OMR: 512,
  PHP: 608, PLN: 985, SAR: 682, SEK: 752, SGD: 702, THB: 764, TND: 788, TRY: 949, TWD: 901,
  USD: 840, VND: 704, ZAR: 710,
} as const;

/** A currency's alpha code ("EUR"); decoded currencies are alpha codes. */
export type CurrencyCode = keyof typeof CURRENCIES;
/** A currency as accepted on input: alpha code or ISO numeric code (978). */
export type Currency = CurrencyCode | number;

/** `Id`: 1..=64 bytes of [A-Za-z0-9._:-]. */
export type Id = string;
/** `Decimal`: decimal text such as "12.5". */
export type Decimal = string;

export interface GeoPoint { latitudeE6: number; longitudeE6: number }
export interface SplitMember { user: Id; account: Id }
export type SplitShares = { kind: "Equal" } | { kind: "Explicit"; shares: readonly U64[] };
export type DeductionKind =
  | { kind: "PercentOff"; percent: Decimal; cap?: U64 | null }
  | { kind: "FixedOff"; amount: U64 }
  | { kind: "SpendSave"; threshold: U64; save: U64 };
export interface DeductionRule { kind: DeductionKind; minSpend: U64 }
export type AdjustmentCondition =
  | { kind: "TimeWindow"; fromMs: U64; untilMs: U64 }
  | { kind: "Location"; center: GeoPoint; radiusM: number };
export interface ValueAdjustment { condition: AdjustmentCondition; factorPercent: number }
export type Principal =
  | { kind: "Admin" }
  | { kind: "Merchant"; id: Id }
  | { kind: "Operator"; id: Id }
  | { kind: "App"; id: Id }
  | { kind: "Terminal"; id: Id };

export const OBJECT_KINDS = [
  "Account", "Hold", "Merchant", "Terminal", "Operator", "Authorization", "Bill", "Split", "User",
  "Coupon", "ApiKey", "Settlement",
] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

/** The fields of a transfer (Command::Transfer, and each element of TransferBatch). */
export interface TransferFields { id: Id; from: Id; to: Id; amount: U64; currency: Currency }

/** Every engine command; `kind` is the variant (wire index in COMMAND_KINDS). */
export type Command =
  | { kind: "OpenAccount"; account: Id; currency: Currency; overdraftLimit: U64 }
  | { kind: "CloseAccount"; account: Id }
  | { kind: "Deposit"; id: Id; account: Id; amount: U64 }
  | { kind: "Withdraw"; id: Id; account: Id; amount: U64 }
  | ({ kind: "Transfer" } & TransferFields)
  | { kind: "TransferBatch"; atomic: boolean; transfers: readonly TransferFields[] }
  | { kind: "PlaceHold"; id: Id; from: Id; to: Id; amount: U64; currency: Currency; expiresAtMs: U64 }
  | { kind: "CaptureHold"; hold: Id; amount: U64 }
  | { kind: "VoidHold"; hold: Id }
  | { kind: "RegisterMerchant"; merchant: Id; account: Id }
  | { kind: "RegisterTerminal"; terminal: Id; merchant: Id; macKey?: Uint8Array | null; location?: GeoPoint | null }
  | { kind: "RegisterOperator"; operator: Id; merchant: Id }
  | { kind: "Authorize"; id: Id; user: Id; account: Id; limit: U64; expiresAtMs: U64; nonce: U64 }
  | {
      kind: "SettlePos"; id: Id; user: Id; code: string; amount: U64; currency: Currency; terminal: Id;
      coupon?: Id | null; holdUntilMs?: U64 | null; location?: GeoPoint | null;
    }
  | { kind: "ReversePos"; settlement: Id }
  | { kind: "OpenBill"; bill: Id; user: Id; account: Id; merchant: Id; opensAtMs: U64; closesAtMs: U64 }
  | { kind: "AddBillItem"; bill: Id; terminal: Id; itemRef: string; quantity: number; unitAmount: U64 }
  | { kind: "SubmitBill"; bill: Id; nonce: U64 }
  | { kind: "ConfirmBill"; bill: Id; challenge: string; coupon?: Id | null; location?: GeoPoint | null }
  | { kind: "CancelBill"; bill: Id }
  | {
      kind: "RequestSplit"; split: Id; requester: Id; requesterAccount: Id; total: U64; currency: Currency;
      members: readonly SplitMember[]; shares: SplitShares; expiresAtMs: U64;
    }
  | { kind: "PaySplitShare"; split: Id; member: Id }
  | { kind: "CancelSplit"; split: Id }
  | { kind: "AddContact"; user: Id; contact: Id }
  | {
      kind: "IssueCoupon"; coupon: Id; merchant: Id; holder: Id; currency: Currency; rule: DeductionRule;
      adjustments: readonly ValueAdjustment[]; validFromMs: U64; validUntilMs: U64;
      reward?: DeductionRule | null; nonce: U64;
    }
  | { kind: "ShareCoupon"; coupon: Id; user: Id }
  | { kind: "ClaimCoupon"; coupon: Id; claimer: Id; nonce: U64 }
  | { kind: "RedeemCoupon"; id: Id; operator: Id; code: string; amount: U64; location?: GeoPoint | null }
  | { kind: "RegisterApiKey"; keyId: Id; role: Principal; secretHash: Uint8Array }
  | { kind: "RevokeApiKey"; keyId: Id }
  | { kind: "Tick" }
  | { kind: "RevokeAuthorization"; authorization: Id }
  /** Gives back part of an approved POS settlement `of`; `refund` is this refund's own id, scoped
   * by `of` (a retry with the same id and amount gets the first answer; another amount is IdReused). */
  | { kind: "RefundPos"; of: Id; refund: Id; amount: U64 }
  /** Gives back part of a paid bill `of`, with the same retry rules as RefundPos. */
  | { kind: "RefundBill"; of: Id; refund: Id; amount: U64 }
  /** Refunds a completed split whole: the requester's account pays every member's account back its
   * share, all or nothing. Answered Refunded { amount: total, remaining: 0 }, again to a retry; a
   * split that is not completed is NotReversible. */
  | { kind: "RefundSplit"; split: Id };

export type CommandKind = Command["kind"];

/** `Rejection` names in wire order (index = variant). */
export const REJECTIONS = [
  "IdReused", "AlreadyExists", "AccountNotFound", "CounterpartyNotFound", "AccountClosed",
  "AccountNotEmpty", "CurrencyMismatch", "SameAccount", "InvalidAmount", "InsufficientFunds",
  "Overflow", "LinkedTransferFailed", "InvalidBatch", "HoldNotFound", "HoldAlreadyResolved",
  "ExceedsHold", "InvalidExpiry", "Expired", "MerchantNotFound", "TerminalNotFound",
  "OperatorNotFound", "WrongMerchant", "TooManyAuthorizations", "IncorrectCode", "CodeAlreadyUsed",
  "CodeTriesExceeded", "ExceedsLimit", "BillNotFound", "BillNotOpen", "OutsideWindow", "BillEmpty",
  "TooManyItems", "InvalidField", "SplitNotFound", "SplitClosed", "NotAMember", "AlreadyPaid",
  "InvalidShares", "CouponNotFound", "CouponNotValid", "CouponRedeemed", "NotCouponHolder",
  "CouponNotShared", "CouponShared", "NotAContact", "BelowMinimumSpend", "InvalidRule",
  "LimitReached", "SettlementNotFound", "NotReversible", "Forbidden", "KeyNotFound", "IdTableFull",
  "CrossPartition",
  "CodeRevoked",
  "AuthorizationNotFound",
  "RefundExceedsCharge",
  "TooManyRefunds",
  "MetadataNotSupported",
] as const;
export type Rejection = (typeof REJECTIONS)[number];

/** The HTTP API's snake_case code of a rejection ("insufficient_funds"). */
export function rejectionCode(rejection: Rejection): string {
  return rejection.replace(/[A-Z]/g, (letter, offset) => (offset ? "_" : "") + letter.toLowerCase());
}

/** What an applied command answers. Decoded u64 fields are bigints. */
export type Reply =
  | { kind: "Done" }
  | { kind: "TransferBatch"; outcomes: readonly Outcome[] }
  | { kind: "Captured"; captured: U64; released: U64 }
  | { kind: "Authorized"; code: string; expiresAtMs: U64 }
  | { kind: "Settled"; approvalCode: string; charged: U64; discount: U64 }
  | { kind: "BillSubmitted"; total: U64; challenge: string }
  | { kind: "BillPaid"; charged: U64; discount: U64 }
  | { kind: "SplitRequested"; shares: readonly U64[] }
  | { kind: "SharePaid"; amount: U64; completed: boolean }
  | { kind: "SplitCancelled"; refunded: U64 }
  | { kind: "CouponIssued"; code: string }
  | { kind: "CouponRedeemed"; discount: U64; payable: U64; rewardCoupon?: Id | null }
  | { kind: "Ticked"; expired: number }
  | { kind: "ContactRequested" }
  | { kind: "CouponClaimed"; code: string }
  /** Given back by this refund, and what may still be refunded after it. */
  | { kind: "Refunded"; amount: U64; remaining: U64 };

/** The result of one command: applied with a reply, or rejected (nothing changed). */
export type Outcome =
  | { kind: "Applied"; reply: Reply }
  | { kind: "Rejected"; rejection: Rejection }
  /** An atomic TransferBatch refused as a whole: transfer number `leg` (from 0) was refused. */
  | { kind: "BatchRejected"; leg: number; rejection: Rejection };

// ----- validation helpers -------------------------------------------------------------------

export const ID_LENGTH_MAX = 64;
const ID_PATTERN = /^[A-Za-z0-9._:-]+$/;

/** Why `text` is not a valid Id ("" when it is one). */
export function idProblem(text: string): string {
  if (text.length === 0) return "id is empty";
  if (!ID_PATTERN.test(text)) return `id may only hold A-Z a-z 0-9 . _ : -, got ${JSON.stringify(text)}`;
  if (text.length > ID_LENGTH_MAX) return `id is longer than ${ID_LENGTH_MAX} bytes: ${text.slice(0, 80)}`;
  return "";
}

// ----- metadata ---------------------------------------------------------------------------

export const METADATA_ENTRIES_MAX = 16;
export const METADATA_KEY_LENGTH_MAX = 40;
export const METADATA_VALUE_LENGTH_MAX = 500;

/** `Metadata` as decoded: key -> value. */
export type Metadata = Readonly<Record<string, string>>;
/** `Metadata` as accepted: an object of strings, a Map, or [key, value] pairs (each key at most
 * once). At most 16 entries; keys of 1..=40 bytes of [A-Za-z0-9._:-]; values of at most 500
 * characters (code points, not UTF-16 units or bytes) without control characters
 * (U+0000..U+001F, U+007F..U+009F). */
export type MetadataInput = Metadata | ReadonlyMap<string, string> | ReadonlyArray<readonly [string, string]>;

const METADATA_KEY_PATTERN = /^[A-Za-z0-9._:-]+$/;
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/** The [key, value] pairs of metadata given in any accepted form, or why it is not one. */
export function metadataEntries(value: unknown): { entries: Array<readonly [unknown, unknown]>; problem: string } {
  if (Array.isArray(value)) {
    const pairs = value.every((pair) => Array.isArray(pair) && pair.length === 2);
    return pairs ? { entries: value, problem: "" } : { entries: [], problem: "metadata pairs must each be a [key, value] pair" };
  }
  if (value instanceof Map) return { entries: [...value.entries()], problem: "" };
  const prototype = typeof value === "object" && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (prototype === Object.prototype || prototype === null) return { entries: Object.entries(value as object), problem: "" };
  return { entries: [], problem: `metadata must be an object, a Map or [key, value] pairs, got ${String(value)}` };
}

/** The characters (code points) of `text`, or -1 if it holds a lone surrogate (not encodable). */
function characterCount(text: string): number {
  let count = 0;
  for (const character of text) {
    const code = character.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) return -1;
    count += 1;
  }
  return count;
}

/** Why `value` is not valid metadata ("" when it is one). */
export function metadataProblem(value: unknown): string {
  const { entries, problem } = metadataEntries(value);
  if (problem) return problem;
  if (entries.length > METADATA_ENTRIES_MAX) return `metadata holds at most ${METADATA_ENTRIES_MAX} entries, not ${entries.length}`;
  const seen = new Set<string>();
  for (const [key, text] of entries) {
    if (typeof key !== "string" || typeof text !== "string") {
      return `metadata keys and values must be strings, got ${String(key)}: ${String(text)}`;
    }
    if (!METADATA_KEY_PATTERN.test(key) || key.length > METADATA_KEY_LENGTH_MAX) {
      return `metadata key ${JSON.stringify(key.slice(0, 80))} must be 1..=${METADATA_KEY_LENGTH_MAX} bytes of A-Z a-z 0-9 . _ : -`;
    }
    const count = characterCount(text);
    if (count < 0 || count > METADATA_VALUE_LENGTH_MAX || CONTROL_CHARACTER.test(text)) {
      return `metadata value of ${JSON.stringify(key)} must be at most ${METADATA_VALUE_LENGTH_MAX} characters without control characters`;
    }
    if (seen.has(key)) return `metadata key ${JSON.stringify(key)} appears twice`;
    seen.add(key);
  }
  return "";
}

/** Valid metadata's entries sorted by key (byte order: keys are ASCII), as the wire has them. */
export function sortedMetadata(value: MetadataInput): Array<readonly [string, string]> {
  const entries = metadataEntries(value).entries as Array<readonly [string, string]>;
  return [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** An object holding `entries` (as own properties, even a key named `__proto__`). */
export function metadataObject(entries: ReadonlyArray<readonly [string, string]>): Metadata {
  const result: Record<string, string> = {};
  for (const [key, text] of entries) {
    Object.defineProperty(result, key, { value: text, enumerable: true, writable: true, configurable: true });
  }
  return result;
}

// ----- decimals -------------------------------------------------------------------------------

const DECIMAL_PATTERN = /^[+-]?[0-9]+(\.[0-9]+)?$/;
export const DECIMAL_DIGITS_MAX = 28;

/** Why `text` is not a decimal the engine parses ("" when it is one): plain notation, at most
 * 28 digits. Stricter than the server on purpose: a value it refused would close the connection. */
export function decimalProblem(text: string): string {
  if (!DECIMAL_PATTERN.test(text)) return `not a decimal number: ${JSON.stringify(text)}`;
  if (text.replace(/[^0-9]/g, "").length > DECIMAL_DIGITS_MAX) return `more than ${DECIMAL_DIGITS_MAX} digits`;
  return "";
}

/** The numeric code of a currency given by alpha or numeric code, or undefined if unsupported. */
export function currencyNumber(currency: unknown): number | undefined {
  if (typeof currency === "string" && Object.prototype.hasOwnProperty.call(CURRENCIES, currency)) {
    return CURRENCIES[currency as CurrencyCode];
  }
  if (typeof currency === "number" && Object.values(CURRENCIES).includes(currency as never)) return currency;
  return undefined;
}

/** The alpha code of a supported numeric code, or undefined. */
export function currencyAlpha(numeric: number): CurrencyCode | undefined {
  return (Object.keys(CURRENCIES) as CurrencyCode[]).find((alpha) => CURRENCIES[alpha] === numeric);
}
