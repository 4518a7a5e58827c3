import { BOOL_WIRE, Fields, STRING_WIRE, U16_WIRE, U32_WIRE, U64_WIRE, Wire } from "./codec.js";
import { Command, ObjectKind, Outcome, Reply, Currency, MetadataInput } from "./types.js";
export declare const ID_WIRE: Wire<string>;
export declare const DECIMAL_WIRE: Wire<string>;
/** `Currency`: the ISO numeric code as a u16 varint; accepts alpha or numeric codes, decodes to
 * the alpha code. */
export declare const CURRENCY_WIRE: Wire<Currency>;
export declare const PRINCIPAL_WIRE: Wire<{
    kind: string;
}>;
export declare const OBJECT_KIND_WIRE: Wire<ObjectKind>;
/** Every Command variant, in wire order (index 0..34). */
export declare const COMMAND_VARIANTS: ReadonlyArray<readonly [Command["kind"], Fields]>;
export declare const COMMAND_WIRE: Wire<Command>;
export declare const REJECTION_WIRE: Wire<"Forbidden" | "InvalidBatch" | "IdReused" | "AlreadyExists" | "AccountNotFound" | "CounterpartyNotFound" | "AccountClosed" | "AccountNotEmpty" | "CurrencyMismatch" | "SameAccount" | "InvalidAmount" | "InsufficientFunds" | "Overflow" | "LinkedTransferFailed" | "HoldNotFound" | "HoldAlreadyResolved" | "ExceedsHold" | "InvalidExpiry" | "Expired" | "MerchantNotFound" | "TerminalNotFound" | "OperatorNotFound" | "WrongMerchant" | "TooManyAuthorizations" | "IncorrectCode" | "CodeAlreadyUsed" | "CodeTriesExceeded" | "ExceedsLimit" | "BillNotFound" | "BillNotOpen" | "OutsideWindow" | "BillEmpty" | "TooManyItems" | "InvalidField" | "SplitNotFound" | "SplitClosed" | "NotAMember" | "AlreadyPaid" | "InvalidShares" | "CouponNotFound" | "CouponNotValid" | "CouponRedeemed" | "NotCouponHolder" | "CouponNotShared" | "CouponShared" | "NotAContact" | "BelowMinimumSpend" | "InvalidRule" | "LimitReached" | "SettlementNotFound" | "NotReversible" | "KeyNotFound" | "IdTableFull" | "CrossPartition" | "CodeRevoked" | "AuthorizationNotFound" | "RefundExceedsCharge" | "TooManyRefunds" | "MetadataNotSupported">;
/** `Metadata`: a varint entry count, then each entry's key and value Strings, keys in byte order.
 * Validated before writing (ValidationError) and when read (InvalidValueError). */
export declare const METADATA_WIRE: Wire<MetadataInput>;
export declare const OUTCOME_WIRE: Wire<Outcome>;
/** Every Reply variant, in wire order (index 0..15). */
export declare const REPLY_VARIANTS: ReadonlyArray<readonly [Reply["kind"], Fields]>;
export declare const REPLY_WIRE: Wire<Reply>;
export { STRING_WIRE, U16_WIRE, U32_WIRE, U64_WIRE, BOOL_WIRE };
