// The wire layout of every engine type (docs/protocol.md §6): variant order = wire index,
// field order = wire order.

import {
  BOOL_WIRE,
  BYTES_WIRE,
  Fields,
  I32_WIRE,
  Reader,
  STRING_WIRE,
  U16_WIRE,
  U32_WIRE,
  U64_WIRE,
  Wire,
  Writer,
  checkedString,
  fixedBytes,
  option,
  struct,
  taggedEnum,
  unitEnum,
  vec,
} from "./codec.js";
import { InvalidValueError, ValidationError } from "./errors.js";
import {
  Command,
  CurrencyCode,
  DeductionRule,
  GeoPoint,
  OBJECT_KINDS,
  ObjectKind,
  Outcome,
  REJECTIONS,
  Reply,
  Currency,
  METADATA_ENTRIES_MAX,
  Metadata,
  MetadataInput,
  currencyAlpha,
  currencyNumber,
  decimalProblem,
  idProblem,
  metadataObject,
  metadataProblem,
  sortedMetadata,
} from "./types.js";

export const ID_WIRE = checkedString(idProblem);
export const DECIMAL_WIRE = checkedString(decimalProblem);

/** `Currency`: the ISO numeric code as a u16 varint; accepts alpha or numeric codes, decodes to
 * the alpha code. */
export const CURRENCY_WIRE: Wire<Currency> = {
  write(out: Writer, value: Currency, path: string) {
    const numeric = currencyNumber(value);
    if (numeric === undefined) throw new ValidationError(`${path}: unsupported currency ${String(value)}`);
    out.varint(numeric);
  },
  read(src: Reader): CurrencyCode {
    const numeric = U16_WIRE.read(src);
    const alpha = currencyAlpha(numeric);
    if (alpha === undefined) throw new InvalidValueError(`unsupported currency code ${numeric}`);
    return alpha;
  },
};

const GEO_POINT = struct<GeoPoint>("GeoPoint", [
  ["latitudeE6", I32_WIRE],
  ["longitudeE6", I32_WIRE],
]);

const SPLIT_MEMBER = struct("SplitMember", [
  ["user", ID_WIRE],
  ["account", ID_WIRE],
]);

const SPLIT_SHARES = taggedEnum("SplitShares", [
  ["Equal", []],
  ["Explicit", [["shares", vec(U64_WIRE)]]],
]);

const DEDUCTION_KIND = taggedEnum("DeductionKind", [
  ["PercentOff", [["percent", DECIMAL_WIRE], ["cap", option(U64_WIRE)]]],
  ["FixedOff", [["amount", U64_WIRE]]],
  ["SpendSave", [["threshold", U64_WIRE], ["save", U64_WIRE]]],
]);

const DEDUCTION_RULE = struct<DeductionRule>("DeductionRule", [
  ["kind", DEDUCTION_KIND],
  ["minSpend", U64_WIRE],
]);

const ADJUSTMENT_CONDITION = taggedEnum("AdjustmentCondition", [
  ["TimeWindow", [["fromMs", U64_WIRE], ["untilMs", U64_WIRE]]],
  ["Location", [["center", GEO_POINT], ["radiusM", U32_WIRE]]],
]);

const VALUE_ADJUSTMENT = struct("ValueAdjustment", [
  ["condition", ADJUSTMENT_CONDITION],
  ["factorPercent", U32_WIRE],
]);

export const PRINCIPAL_WIRE = taggedEnum("Principal", [
  ["Admin", []],
  ["Merchant", [["id", ID_WIRE]]],
  ["Operator", [["id", ID_WIRE]]],
  ["App", [["id", ID_WIRE]]],
  ["Terminal", [["id", ID_WIRE]]],
]);

export const OBJECT_KIND_WIRE: Wire<ObjectKind> = unitEnum("ObjectKind", OBJECT_KINDS);

const TRANSFER_FIELDS: Fields = [
  ["id", ID_WIRE],
  ["from", ID_WIRE],
  ["to", ID_WIRE],
  ["amount", U64_WIRE],
  ["currency", CURRENCY_WIRE],
];

/** RefundPos and RefundBill carry `Refund { of, refund, amount }`. */
const REFUND_FIELDS: Fields = [["of", ID_WIRE], ["refund", ID_WIRE], ["amount", U64_WIRE]];

/** Every Command variant, in wire order (index 0..34). */
export const COMMAND_VARIANTS: ReadonlyArray<readonly [Command["kind"], Fields]> = [
  ["OpenAccount", [["account", ID_WIRE], ["currency", CURRENCY_WIRE], ["overdraftLimit", U64_WIRE]]],
  ["CloseAccount", [["account", ID_WIRE]]],
  ["Deposit", [["id", ID_WIRE], ["account", ID_WIRE], ["amount", U64_WIRE]]],
  ["Withdraw", [["id", ID_WIRE], ["account", ID_WIRE], ["amount", U64_WIRE]]],
  ["Transfer", TRANSFER_FIELDS],
  ["TransferBatch", [["atomic", BOOL_WIRE], ["transfers", vec(struct("Transfer", TRANSFER_FIELDS))]]],
  ["PlaceHold", [...TRANSFER_FIELDS, ["expiresAtMs", U64_WIRE]]],
  ["CaptureHold", [["hold", ID_WIRE], ["amount", U64_WIRE]]],
  ["VoidHold", [["hold", ID_WIRE]]],
  ["RegisterMerchant", [["merchant", ID_WIRE], ["account", ID_WIRE]]],
  ["RegisterTerminal", [
    ["terminal", ID_WIRE], ["merchant", ID_WIRE], ["macKey", option(BYTES_WIRE)], ["location", option(GEO_POINT)],
  ]],
  ["RegisterOperator", [["operator", ID_WIRE], ["merchant", ID_WIRE]]],
  ["Authorize", [
    ["id", ID_WIRE], ["user", ID_WIRE], ["account", ID_WIRE], ["limit", U64_WIRE],
    ["expiresAtMs", U64_WIRE], ["nonce", U64_WIRE],
  ]],
  ["SettlePos", [
    ["id", ID_WIRE], ["user", ID_WIRE], ["code", STRING_WIRE], ["amount", U64_WIRE],
    ["currency", CURRENCY_WIRE], ["terminal", ID_WIRE], ["coupon", option(ID_WIRE)],
    ["holdUntilMs", option(U64_WIRE)], ["location", option(GEO_POINT)],
  ]],
  ["ReversePos", [["settlement", ID_WIRE]]],
  ["OpenBill", [
    ["bill", ID_WIRE], ["user", ID_WIRE], ["account", ID_WIRE], ["merchant", ID_WIRE],
    ["opensAtMs", U64_WIRE], ["closesAtMs", U64_WIRE],
  ]],
  ["AddBillItem", [
    ["bill", ID_WIRE], ["terminal", ID_WIRE], ["itemRef", STRING_WIRE], ["quantity", U32_WIRE],
    ["unitAmount", U64_WIRE],
  ]],
  ["SubmitBill", [["bill", ID_WIRE], ["nonce", U64_WIRE]]],
  ["ConfirmBill", [
    ["bill", ID_WIRE], ["challenge", STRING_WIRE], ["coupon", option(ID_WIRE)], ["location", option(GEO_POINT)],
  ]],
  ["CancelBill", [["bill", ID_WIRE]]],
  ["RequestSplit", [
    ["split", ID_WIRE], ["requester", ID_WIRE], ["requesterAccount", ID_WIRE], ["total", U64_WIRE],
    ["currency", CURRENCY_WIRE], ["members", vec(SPLIT_MEMBER)], ["shares", SPLIT_SHARES],
    ["expiresAtMs", U64_WIRE],
  ]],
  ["PaySplitShare", [["split", ID_WIRE], ["member", ID_WIRE]]],
  ["CancelSplit", [["split", ID_WIRE]]],
  ["AddContact", [["user", ID_WIRE], ["contact", ID_WIRE]]],
  ["IssueCoupon", [
    ["coupon", ID_WIRE], ["merchant", ID_WIRE], ["holder", ID_WIRE], ["currency", CURRENCY_WIRE],
    ["rule", DEDUCTION_RULE], ["adjustments", vec(VALUE_ADJUSTMENT)], ["validFromMs", U64_WIRE],
    ["validUntilMs", U64_WIRE], ["reward", option(DEDUCTION_RULE)], ["nonce", U64_WIRE],
  ]],
  ["ShareCoupon", [["coupon", ID_WIRE], ["user", ID_WIRE]]],
  ["ClaimCoupon", [["coupon", ID_WIRE], ["claimer", ID_WIRE], ["nonce", U64_WIRE]]],
  ["RedeemCoupon", [
    ["id", ID_WIRE], ["operator", ID_WIRE], ["code", STRING_WIRE], ["amount", U64_WIRE],
    ["location", option(GEO_POINT)],
  ]],
  ["RegisterApiKey", [["keyId", ID_WIRE], ["role", PRINCIPAL_WIRE], ["secretHash", fixedBytes(32)]]],
  ["RevokeApiKey", [["keyId", ID_WIRE]]],
  ["Tick", []],
  ["RevokeAuthorization", [["authorization", ID_WIRE]]],
  ["RefundPos", REFUND_FIELDS],
  ["RefundBill", REFUND_FIELDS],
  ["RefundSplit", [["split", ID_WIRE]]],
];

export const COMMAND_WIRE: Wire<Command> = taggedEnum<Command>("Command", COMMAND_VARIANTS);

export const REJECTION_WIRE = unitEnum("Rejection", REJECTIONS);

/** `Metadata`: a varint entry count, then each entry's key and value Strings, keys in byte order.
 * Validated before writing (ValidationError) and when read (InvalidValueError). */
export const METADATA_WIRE: Wire<MetadataInput> = {
  write(out: Writer, value: MetadataInput, path: string) {
    const problem = metadataProblem(value);
    if (problem) throw new ValidationError(`${path}: ${problem}`);
    const entries = sortedMetadata(value);
    out.varint(entries.length);
    for (const [key, text] of entries) {
      STRING_WIRE.write(out, key, `${path}.${key}`);
      STRING_WIRE.write(out, text, `${path}.${key}`);
    }
  },
  read(src: Reader): Metadata {
    const count = src.length();
    if (count > METADATA_ENTRIES_MAX) throw new InvalidValueError(`metadata holds at most ${METADATA_ENTRIES_MAX} entries, not ${count}`);
    const entries: Array<readonly [string, string]> = [];
    for (let index = 0; index < count; index++) entries.push([STRING_WIRE.read(src), STRING_WIRE.read(src)]);
    const problem = metadataProblem(entries);
    if (problem) throw new InvalidValueError(problem);
    return metadataObject(sortedMetadata(entries));
  },
};

// Outcome and Reply refer to each other (Reply::TransferBatch holds outcomes): thunks.
export const OUTCOME_WIRE: Wire<Outcome> = taggedEnum<Outcome>("Outcome", [
  ["Applied", [["reply", () => REPLY_WIRE]]],
  ["Rejected", [["rejection", REJECTION_WIRE]]],
  ["BatchRejected", [["leg", U32_WIRE], ["rejection", REJECTION_WIRE]]],
]);

/** Every Reply variant, in wire order (index 0..15). */
export const REPLY_VARIANTS: ReadonlyArray<readonly [Reply["kind"], Fields]> = [
  ["Done", []],
  ["TransferBatch", [["outcomes", vec(OUTCOME_WIRE)]]],
  ["Captured", [["captured", U64_WIRE], ["released", U64_WIRE]]],
  ["Authorized", [["code", STRING_WIRE], ["expiresAtMs", U64_WIRE]]],
  ["Settled", [["approvalCode", STRING_WIRE], ["charged", U64_WIRE], ["discount", U64_WIRE]]],
  ["BillSubmitted", [["total", U64_WIRE], ["challenge", STRING_WIRE]]],
  ["BillPaid", [["charged", U64_WIRE], ["discount", U64_WIRE]]],
  ["SplitRequested", [["shares", vec(U64_WIRE)]]],
  ["SharePaid", [["amount", U64_WIRE], ["completed", BOOL_WIRE]]],
  ["SplitCancelled", [["refunded", U64_WIRE]]],
  ["CouponIssued", [["code", STRING_WIRE]]],
  ["CouponRedeemed", [["discount", U64_WIRE], ["payable", U64_WIRE], ["rewardCoupon", option(ID_WIRE)]]],
  ["Ticked", [["expired", U32_WIRE]]],
  ["ContactRequested", []],
  ["CouponClaimed", [["code", STRING_WIRE]]],
  ["Refunded", [["amount", U64_WIRE], ["remaining", U64_WIRE]]],
];

export const REPLY_WIRE: Wire<Reply> = taggedEnum<Reply>("Reply", REPLY_VARIANTS);

export { STRING_WIRE, U16_WIRE, U32_WIRE, U64_WIRE, BOOL_WIRE };
