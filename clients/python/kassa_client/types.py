"""Engine value types, helper types and outcomes (docs/protocol.md §6).

Each field is annotated `Annotated[python_type, wire]`; the wire type is what the codec writes.
Variant classes carry their wire index (`VARIANT`) and register with their enum base.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .codec import (
    BOOL,
    DECIMAL,
    I32,
    STRING,
    U16,
    U32,
    U64,
    CheckedString,
    EnumOf,
    Opt,
    Reader,
    Seq,
    Struct,
    UnitEnum,
    Variant,
    Wire,
    variant,
    write_varint,
)
from .errors import InvalidValueError, ValidationError

# ----- Id -------------------------------------------------------------------------------------

ID_LENGTH_MAX = 64
_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")


def id_problem(text: str) -> str:
    """Why `text` is not a valid Id ("" when it is one): 1..=64 bytes of [A-Za-z0-9._:-]."""
    if not text:
        return "id is empty"
    if len(text.encode("utf-8")) > ID_LENGTH_MAX:
        return f"id is longer than {ID_LENGTH_MAX} bytes: {text[:80]!r}"
    if not set(text) <= _ID_CHARACTERS:
        return f"id may only hold A-Z a-z 0-9 . _ : -, got {text!r}"
    return ""


def validate_id(text: str) -> str:
    """Returns `text` when it is a valid Id, else raises ValidationError."""
    problem = id_problem(text) if isinstance(text, str) else f"id must be a string, got {text!r}"
    if problem:
        raise ValidationError(problem)
    return text


ID = CheckedString(id_problem)

# ----- Currency -------------------------------------------------------------------------------


class Currency(enum.IntEnum):
    """The supported ISO 4217 currencies, valued by numeric code (the wire value)."""

    AED = 784
    AUD = 36
    BHD = 48
    BRL = 986
    CAD = 124
    CHF = 756
    CLP = 152
    CNY = 156
    CZK = 203
    DKK = 208
    EUR = 978
    GBP = 826
    HKD = 344
    HUF = 348
    IDR = 360
    ILS = 376
    INR = 356
    ISK = 352
    JOD = 400
    JPY = 392
    KRW = 410
    KWD = 414
    MXN = 484
    MYR = 458
    NOK = 578
    NZD = 554
    OMR = 512
    PHP = 608
    PLN = 985
    SAR = 682
    SEK = 752
    SGD = 702
    THB = 764
    TND = 788
    TRY = 949
    TWD = 901
    USD = 840
    VND = 704
    ZAR = 710


def to_currency(value: Union[int, str, Currency]) -> Currency:
    """A Currency from a member, its numeric code (978) or alpha code ("EUR"); else
    ValidationError."""
    if isinstance(value, str):
        if value in Currency.__members__:
            return Currency[value]
    elif isinstance(value, int) and not isinstance(value, bool) and value in Currency._value2member_map_:
        return Currency(value)
    raise ValidationError(f"unsupported currency {value!r} (docs/protocol.md §6 lists the supported ones)")


class CurrencyWire(Wire):
    """`Currency`: the numeric code as a u16 varint, one of the supported table."""

    def write(self, out: bytearray, value: object, path: str) -> None:
        try:
            U16.write(out, int(to_currency(value)), path)  # type: ignore[arg-type]
        except ValidationError as error:
            raise ValidationError(f"{path}: {error}") from None

    def read(self, src: Reader) -> Currency:
        code = U16.read(src)
        if code not in Currency._value2member_map_:
            raise InvalidValueError(f"unsupported currency code {code}")
        return Currency(code)


CURRENCY = CurrencyWire()

# ----- Metadata -------------------------------------------------------------------------------

METADATA_ENTRIES_MAX = 16
METADATA_KEY_LENGTH_MAX = 40
METADATA_VALUE_LENGTH_MAX = 500

Metadata = Dict[str, str]
"""`Metadata` as decoded: key -> value, in key order."""
MetadataInput = Union[Mapping[str, str], Sequence[Tuple[str, str]]]
"""`Metadata` as accepted: a mapping, or a list of (key, value) pairs (each key at most once)."""


def _is_control(character: str) -> bool:
    """Unicode category Cc (what Rust's `char::is_control` rejects): U+0000..U+001F, U+007F..U+009F."""
    code = ord(character)
    return code < 0x20 or 0x7F <= code <= 0x9F


def metadata_key_problem(key: str) -> str:
    """Why `key` is not a metadata key ("" when it is one): 1..=40 bytes of [A-Za-z0-9._:-]."""
    if not key or not set(key) <= _ID_CHARACTERS or len(key) > METADATA_KEY_LENGTH_MAX:  # ASCII: 1 byte each
        return f"metadata key {key[:80]!r} must be 1..={METADATA_KEY_LENGTH_MAX} bytes of A-Z a-z 0-9 . _ : -"
    return ""


def metadata_value_problem(key: str, value: str) -> str:
    """Why `value` is not a metadata value ("" when it is one): at most 500 characters (code
    points, as the server counts them, not bytes) without control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"metadata value of {key!r} is not encodable as UTF-8"
    if len(value) > METADATA_VALUE_LENGTH_MAX or any(_is_control(c) for c in value):
        return (
            f"metadata value of {key!r} must be at most {METADATA_VALUE_LENGTH_MAX} characters"
            " without control characters"
        )
    return ""


def _metadata_entries(value: Any) -> Tuple[List[Tuple[Any, Any]], str]:
    """The (key, value) pairs of a mapping or a list/tuple of pairs, or a problem."""
    if isinstance(value, Mapping):
        return list(value.items()), ""
    if isinstance(value, (list, tuple)):
        if all(isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in value):
            return [tuple(pair) for pair in value], ""  # type: ignore[misc]
        return [], "metadata pairs must each be a (key, value) pair"
    return [], f"metadata must be a mapping or a list of (key, value) pairs, got {type(value).__name__}"


def metadata_problem(value: Any) -> str:
    """Why `value` is not valid metadata ("" when it is): at most 16 entries; keys of 1..=40
    bytes of [A-Za-z0-9._:-], each once; values of at most 500 characters without control
    characters. `value` is a mapping or a list of (key, value) pairs."""
    entries, problem = _metadata_entries(value)
    if problem:
        return problem
    if len(entries) > METADATA_ENTRIES_MAX:
        return f"metadata holds at most {METADATA_ENTRIES_MAX} entries, not {len(entries)}"
    seen = set()
    for key, text in entries:
        if not isinstance(key, str) or not isinstance(text, str):
            return f"metadata keys and values must be strings, got {key!r}: {text!r}"
        problem = metadata_key_problem(key) or metadata_value_problem(key, text)
        if problem:
            return problem
        if key in seen:
            return f"metadata key {key!r} appears twice"
        seen.add(key)
    return ""


def validate_metadata(value: MetadataInput) -> Metadata:
    """`value` as a dict in key order when it is valid metadata, else raises ValidationError."""
    problem = metadata_problem(value)
    if problem:
        raise ValidationError(problem)
    return dict(sorted(_metadata_entries(value)[0]))


class MetadataWire(Wire):
    """`Metadata`: a varint entry count, then each entry as key String, value String, in key
    (byte) order. Validated before writing (ValidationError) and when read (InvalidValueError)."""

    def write(self, out: bytearray, value: Any, path: str) -> None:
        problem = metadata_problem(value)
        if problem:
            raise ValidationError(f"{path}: {problem}")
        entries = sorted(_metadata_entries(value)[0], key=lambda entry: entry[0])  # ASCII keys: byte order
        write_varint(out, len(entries))
        for key, text in entries:
            STRING.write(out, key, f"{path}[{key!r}]")
            STRING.write(out, text, f"{path}[{key!r}]")

    def read(self, src: Reader) -> Metadata:
        count = src.length()
        if count > METADATA_ENTRIES_MAX:
            raise InvalidValueError(f"metadata holds at most {METADATA_ENTRIES_MAX} entries, not {count}")
        entries = [(STRING.read(src), STRING.read(src)) for _ in range(count)]
        problem = metadata_problem(entries)
        if problem:
            raise InvalidValueError(problem)
        return dict(sorted(entries))


METADATA = MetadataWire()

# ----- field aliases --------------------------------------------------------------------------

Id = Annotated[str, ID]
OptId = Annotated[Optional[str], Opt(ID)]
CurrencyCode = Annotated[Union[Currency, int, str], CURRENCY]
Amount = Annotated[int, U64]
TimestampMs = Annotated[int, U64]
Nonce = Annotated[int, U64]
OptU64 = Annotated[Optional[int], Opt(U64)]
U32Field = Annotated[int, U32]
Text = Annotated[str, STRING]
Flag = Annotated[bool, BOOL]
DecimalText = Annotated[str, DECIMAL]

# ----- helper types ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeoPoint:
    """A point in microdegrees: struct { latitude_e6: i32, longitude_e6: i32 } (zigzag)."""

    latitude_e6: Annotated[int, I32]
    longitude_e6: Annotated[int, I32]


@dataclass(frozen=True)
class SplitMember:
    """struct SplitMember { user: Id, account: Id }."""

    user: Id
    account: Id


class SplitShares(Variant):
    """enum SplitShares: 0 Equal, 1 Explicit(Vec<u64>)."""

    VARIANTS: ClassVar[Dict[int, type]] = {}


@variant(0)
@dataclass(frozen=True)
class EqualShares(SplitShares):
    """SplitShares::Equal (0)."""


@variant(1)
@dataclass(frozen=True)
class ExplicitShares(SplitShares):
    """SplitShares::Explicit(Vec<u64>) (1): one share per member, in member order."""

    shares: Annotated[List[int], Seq(U64)]


class DeductionKind(Variant):
    """enum DeductionKind: 0 PercentOff, 1 FixedOff, 2 SpendSave."""

    VARIANTS: ClassVar[Dict[int, type]] = {}


@variant(0)
@dataclass(frozen=True)
class PercentOff(DeductionKind):
    """DeductionKind::PercentOff { percent: Decimal, cap: Option<u64> } (0). `percent` is
    decimal text such as "12.5"."""

    percent: DecimalText
    cap: OptU64


@variant(1)
@dataclass(frozen=True)
class FixedOff(DeductionKind):
    """DeductionKind::FixedOff { amount: u64 } (1)."""

    amount: Amount


@variant(2)
@dataclass(frozen=True)
class SpendSave(DeductionKind):
    """DeductionKind::SpendSave { threshold: u64, save: u64 } (2)."""

    threshold: Amount
    save: Amount


@dataclass(frozen=True)
class DeductionRule:
    """struct DeductionRule { kind: DeductionKind, min_spend: u64 }."""

    kind: Annotated[DeductionKind, EnumOf(DeductionKind)]
    min_spend: Amount


class AdjustmentCondition(Variant):
    """enum AdjustmentCondition: 0 TimeWindow, 1 Location."""

    VARIANTS: ClassVar[Dict[int, type]] = {}


@variant(0)
@dataclass(frozen=True)
class TimeWindow(AdjustmentCondition):
    """AdjustmentCondition::TimeWindow { from_ms: u64, until_ms: u64 } (0)."""

    from_ms: TimestampMs
    until_ms: TimestampMs


@variant(1)
@dataclass(frozen=True)
class Location(AdjustmentCondition):
    """AdjustmentCondition::Location { center: GeoPoint, radius_m: u32 } (1)."""

    center: Annotated[GeoPoint, Struct(GeoPoint)]
    radius_m: U32Field


@dataclass(frozen=True)
class ValueAdjustment:
    """struct ValueAdjustment { condition: AdjustmentCondition, factor_percent: u32 }."""

    condition: Annotated[AdjustmentCondition, EnumOf(AdjustmentCondition)]
    factor_percent: U32Field


class Principal(Variant):
    """enum Principal: 0 Admin, 1 Merchant(Id), 2 Operator(Id), 3 App(Id), 4 Terminal(Id)."""

    VARIANTS: ClassVar[Dict[int, type]] = {}


@variant(0)
@dataclass(frozen=True)
class AdminRole(Principal):
    """Principal::Admin (0)."""


@variant(1)
@dataclass(frozen=True)
class MerchantRole(Principal):
    """Principal::Merchant(Id) (1)."""

    id: Id


@variant(2)
@dataclass(frozen=True)
class OperatorRole(Principal):
    """Principal::Operator(Id) (2)."""

    id: Id


@variant(3)
@dataclass(frozen=True)
class AppRole(Principal):
    """Principal::App(Id) (3)."""

    id: Id


@variant(4)
@dataclass(frozen=True)
class TerminalRole(Principal):
    """Principal::Terminal(Id) (4)."""

    id: Id


class ObjectKind(enum.IntEnum):
    """enum ObjectKind (unit variants; value = wire index)."""

    Account = 0
    Hold = 1
    Merchant = 2
    Terminal = 3
    Operator = 4
    Authorization = 5
    Bill = 6
    Split = 7
    User = 8
    Coupon = 9
    ApiKey = 10
    Settlement = 11


# ----- outcomes -------------------------------------------------------------------------------


class Rejection(enum.IntEnum):
    """Why a command was refused (unit variants; value = wire index). `.code` is the HTTP API's
    snake_case error code."""

    IdReused = 0
    AlreadyExists = 1
    AccountNotFound = 2
    CounterpartyNotFound = 3
    AccountClosed = 4
    AccountNotEmpty = 5
    CurrencyMismatch = 6
    SameAccount = 7
    InvalidAmount = 8
    InsufficientFunds = 9
    Overflow = 10
    LinkedTransferFailed = 11
    InvalidBatch = 12
    HoldNotFound = 13
    HoldAlreadyResolved = 14
    ExceedsHold = 15
    InvalidExpiry = 16
    Expired = 17
    MerchantNotFound = 18
    TerminalNotFound = 19
    OperatorNotFound = 20
    WrongMerchant = 21
    TooManyAuthorizations = 22
    IncorrectCode = 23
    CodeAlreadyUsed = 24
    CodeTriesExceeded = 25
    ExceedsLimit = 26
    BillNotFound = 27
    BillNotOpen = 28
    OutsideWindow = 29
    BillEmpty = 30
    TooManyItems = 31
    InvalidField = 32
    SplitNotFound = 33
    SplitClosed = 34
    NotAMember = 35
    AlreadyPaid = 36
    InvalidShares = 37
    CouponNotFound = 38
    CouponNotValid = 39
    CouponRedeemed = 40
    NotCouponHolder = 41
    CouponNotShared = 42
    CouponShared = 43
    NotAContact = 44
    BelowMinimumSpend = 45
    InvalidRule = 46
    LimitReached = 47
    SettlementNotFound = 48
    NotReversible = 49
    Forbidden = 50
    KeyNotFound = 51
    IdTableFull = 52
    CrossPartition = 53
    CodeRevoked = 54
    AuthorizationNotFound = 55
    RefundExceedsCharge = 56
    TooManyRefunds = 57
    MetadataNotSupported = 58

    @property
    def code(self) -> str:
        """The snake_case code (`insufficient_funds`)."""
        return "".join("_" + c.lower() if c.isupper() else c for c in self.name).lstrip("_")


class Outcome(Variant):
    """enum Outcome: 0 Applied(Reply), 1 Rejected(Rejection), 2 BatchRejected { leg, rejection }."""

    VARIANTS: ClassVar[Dict[int, type]] = {}

    @property
    def is_applied(self) -> bool:
        return isinstance(self, Applied)


class Reply(Variant):
    """enum Reply: what an applied command answers (indices 0..15)."""

    VARIANTS: ClassVar[Dict[int, type]] = {}


REPLY = EnumOf(Reply)
OUTCOME = EnumOf(Outcome)


@variant(0)
@dataclass(frozen=True)
class Applied(Outcome):
    """Outcome::Applied(Reply) (0): the command took effect (or was an idempotent repeat)."""

    reply: Annotated[Reply, REPLY]


@variant(1)
@dataclass(frozen=True)
class Rejected(Outcome):
    """Outcome::Rejected(Rejection) (1): refused; nothing changed."""

    rejection: Annotated[Rejection, UnitEnum(Rejection)]


@variant(2)
@dataclass(frozen=True)
class BatchRejected(Outcome):
    """Outcome::BatchRejected { leg: u32, rejection } (2): an atomic TransferBatch refused as a
    whole because its transfer number `leg` (from 0) was refused; nothing changed."""

    leg: U32Field
    rejection: Annotated[Rejection, UnitEnum(Rejection)]


@variant(0)
@dataclass(frozen=True)
class Done(Reply):
    """Reply::Done (0)."""


@variant(1)
@dataclass(frozen=True)
class TransferBatchOutcomes(Reply):
    """Reply::TransferBatch(Vec<Outcome>) (1): one outcome per transfer, in order."""

    outcomes: Annotated[List[Outcome], Seq(OUTCOME)]


@variant(2)
@dataclass(frozen=True)
class Captured(Reply):
    """Reply::Captured { captured: u64, released: u64 } (2)."""

    captured: Amount
    released: Amount


@variant(3)
@dataclass(frozen=True)
class Authorized(Reply):
    """Reply::Authorized { code: String, expires_at_ms: u64 } (3)."""

    code: Text
    expires_at_ms: TimestampMs


@variant(4)
@dataclass(frozen=True)
class Settled(Reply):
    """Reply::Settled { approval_code: String, charged: u64, discount: u64 } (4)."""

    approval_code: Text
    charged: Amount
    discount: Amount


@variant(5)
@dataclass(frozen=True)
class BillSubmitted(Reply):
    """Reply::BillSubmitted { total: u64, challenge: String } (5)."""

    total: Amount
    challenge: Text


@variant(6)
@dataclass(frozen=True)
class BillPaid(Reply):
    """Reply::BillPaid { charged: u64, discount: u64 } (6)."""

    charged: Amount
    discount: Amount


@variant(7)
@dataclass(frozen=True)
class SplitRequested(Reply):
    """Reply::SplitRequested { shares: Vec<u64> } (7)."""

    shares: Annotated[List[int], Seq(U64)]


@variant(8)
@dataclass(frozen=True)
class SharePaid(Reply):
    """Reply::SharePaid { amount: u64, completed: bool } (8)."""

    amount: Amount
    completed: Flag


@variant(9)
@dataclass(frozen=True)
class SplitCancelled(Reply):
    """Reply::SplitCancelled { refunded: u64 } (9)."""

    refunded: Amount


@variant(10)
@dataclass(frozen=True)
class CouponIssued(Reply):
    """Reply::CouponIssued { code: String } (10)."""

    code: Text


@variant(11)
@dataclass(frozen=True)
class CouponRedeemed(Reply):
    """Reply::CouponRedeemed { discount: u64, payable: u64, reward_coupon: Option<Id> } (11)."""

    discount: Amount
    payable: Amount
    reward_coupon: OptId


@variant(12)
@dataclass(frozen=True)
class Ticked(Reply):
    """Reply::Ticked { expired: u32 } (12)."""

    expired: U32Field


@variant(13)
@dataclass(frozen=True)
class ContactRequested(Reply):
    """Reply::ContactRequested (13)."""


@variant(14)
@dataclass(frozen=True)
class CouponClaimed(Reply):
    """Reply::CouponClaimed { code: String } (14)."""

    code: Text


@variant(15)
@dataclass(frozen=True)
class Refunded(Reply):
    """Reply::Refunded { amount: u64, remaining: u64 } (15): given back by this refund (or, to a
    retry, by the first answer), and what may still be refunded after it."""

    amount: Amount
    remaining: Amount
