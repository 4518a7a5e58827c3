// Engine value types, helper types, commands and outcomes (docs/protocol.md §6), as
// discriminated unions on `kind` (the Rust variant name). Field names are the wire names in
// camelCase; they are written in the order the codec's schemas give (schema.ts).
// Integers: u64 fields accept bigint or number and decode as bigint; u16/u32/i32 are numbers.
/** Supported ISO 4217 currencies: alpha code -> numeric code (the wire value). */
export const CURRENCIES = {
    AED: 784, AUD: 36, BHD: 48, BRL: 986, CAD: 124, CHF: 756, CLP: 152, CNY: 156, CZK: 203,
    DKK: 208, EUR: 978, GBP: 826, HKD: 344, HUF: 348, IDR: 360, ILS: 376, INR: 356, ISK: 352,
    JOD: 400, JPY: 392, KRW: 410, KWD: 414, MXN: 484, MYR: 458, NOK: 578, NZD: 554, OMR: 512,
    PHP: 608, PLN: 985, SAR: 682, SEK: 752, SGD: 702, THB: 764, TND: 788, TRY: 949, TWD: 901,
    USD: 840, VND: 704, ZAR: 710,
};
export const OBJECT_KINDS = [
    "Account", "Hold", "Merchant", "Terminal", "Operator", "Authorization", "Bill", "Split", "User",
    "Coupon", "ApiKey", "Settlement",
];
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
];
/** The HTTP API's snake_case code of a rejection ("insufficient_funds"). */
export function rejectionCode(rejection) {
    return rejection.replace(/[A-Z]/g, (letter, offset) => (offset ? "_" : "") + letter.toLowerCase());
}
// ----- validation helpers -------------------------------------------------------------------
export const ID_LENGTH_MAX = 64;
const ID_PATTERN = /^[A-Za-z0-9._:-]+$/;
/** Why `text` is not a valid Id ("" when it is one). */
export function idProblem(text) {
    if (text.length === 0)
        return "id is empty";
    if (!ID_PATTERN.test(text))
        return `id may only hold A-Z a-z 0-9 . _ : -, got ${JSON.stringify(text)}`;
    if (text.length > ID_LENGTH_MAX)
        return `id is longer than ${ID_LENGTH_MAX} bytes: ${text.slice(0, 80)}`;
    return "";
}
// ----- metadata ---------------------------------------------------------------------------
export const METADATA_ENTRIES_MAX = 16;
export const METADATA_KEY_LENGTH_MAX = 40;
export const METADATA_VALUE_LENGTH_MAX = 500;
const METADATA_KEY_PATTERN = /^[A-Za-z0-9._:-]+$/;
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
/** The [key, value] pairs of metadata given in any accepted form, or why it is not one. */
export function metadataEntries(value) {
    if (Array.isArray(value)) {
        const pairs = value.every((pair) => Array.isArray(pair) && pair.length === 2);
        return pairs ? { entries: value, problem: "" } : { entries: [], problem: "metadata pairs must each be a [key, value] pair" };
    }
    if (value instanceof Map)
        return { entries: [...value.entries()], problem: "" };
    const prototype = typeof value === "object" && value !== null ? Object.getPrototypeOf(value) : undefined;
    if (prototype === Object.prototype || prototype === null)
        return { entries: Object.entries(value), problem: "" };
    return { entries: [], problem: `metadata must be an object, a Map or [key, value] pairs, got ${String(value)}` };
}
/** The characters (code points) of `text`, or -1 if it holds a lone surrogate (not encodable). */
function characterCount(text) {
    let count = 0;
    for (const character of text) {
        const code = character.codePointAt(0);
        if (code >= 0xd800 && code <= 0xdfff)
            return -1;
        count += 1;
    }
    return count;
}
/** Why `value` is not valid metadata ("" when it is one). */
export function metadataProblem(value) {
    const { entries, problem } = metadataEntries(value);
    if (problem)
        return problem;
    if (entries.length > METADATA_ENTRIES_MAX)
        return `metadata holds at most ${METADATA_ENTRIES_MAX} entries, not ${entries.length}`;
    const seen = new Set();
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
        if (seen.has(key))
            return `metadata key ${JSON.stringify(key)} appears twice`;
        seen.add(key);
    }
    return "";
}
/** Valid metadata's entries sorted by key (byte order: keys are ASCII), as the wire has them. */
export function sortedMetadata(value) {
    const entries = metadataEntries(value).entries;
    return [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
/** An object holding `entries` (as own properties, even a key named `__proto__`). */
export function metadataObject(entries) {
    const result = {};
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
export function decimalProblem(text) {
    if (!DECIMAL_PATTERN.test(text))
        return `not a decimal number: ${JSON.stringify(text)}`;
    if (text.replace(/[^0-9]/g, "").length > DECIMAL_DIGITS_MAX)
        return `more than ${DECIMAL_DIGITS_MAX} digits`;
    return "";
}
/** The numeric code of a currency given by alpha or numeric code, or undefined if unsupported. */
export function currencyNumber(currency) {
    if (typeof currency === "string" && Object.prototype.hasOwnProperty.call(CURRENCIES, currency)) {
        return CURRENCIES[currency];
    }
    if (typeof currency === "number" && Object.values(CURRENCIES).includes(currency))
        return currency;
    return undefined;
}
/** The alpha code of a supported numeric code, or undefined. */
export function currencyAlpha(numeric) {
    return Object.keys(CURRENCIES).find((alpha) => CURRENCIES[alpha] === numeric);
}
