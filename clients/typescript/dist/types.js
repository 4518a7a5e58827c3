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
    "Coupon", "ApiKey",
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
