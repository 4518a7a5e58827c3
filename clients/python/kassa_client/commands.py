"""Every engine `Command` (docs/protocol.md §6, variant indices 0..34), fields in wire order.

`Transfer.from_` is the wire field `from` (a Python keyword). Amounts are integer minor units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Dict, List, Optional

from .codec import BYTES, EnumOf, FixedBytes, Opt, Seq, Struct, Variant, variant
from .types import (
    Amount,
    CurrencyCode,
    DeductionRule,
    Flag,
    GeoPoint,
    Id,
    Nonce,
    OptId,
    OptU64,
    Principal,
    SplitMember,
    SplitShares,
    Text,
    TimestampMs,
    U32Field,
    ValueAdjustment,
)


class Command(Variant):
    """One engine command. Subclasses are the variants; `VARIANT` is the wire index."""

    VARIANTS: ClassVar[Dict[int, type]] = {}


@variant(0)
@dataclass(frozen=True)
class OpenAccount(Command):
    """Opens an account (0)."""

    account: Id
    currency: CurrencyCode
    overdraft_limit: Amount = 0


@variant(1)
@dataclass(frozen=True)
class CloseAccount(Command):
    """Closes an account whose balance and holds are zero (1)."""

    account: Id


@variant(2)
@dataclass(frozen=True)
class Deposit(Command):
    """Money entering the system (2): Movement { id, account, amount }."""

    id: Id
    account: Id
    amount: Amount


@variant(3)
@dataclass(frozen=True)
class Withdraw(Command):
    """Money leaving the system (3): Movement { id, account, amount }."""

    id: Id
    account: Id
    amount: Amount


@variant(4)
@dataclass(frozen=True)
class Transfer(Command):
    """Moves money between two accounts of one currency (4). Also the element of
    TransferBatch (then written without a variant index)."""

    id: Id
    from_: Id
    to: Id
    amount: Amount
    currency: CurrencyCode


@variant(5)
@dataclass(frozen=True)
class TransferBatch(Command):
    """Several transfers (5); with `atomic`, all apply or none does."""

    atomic: Flag
    transfers: Annotated[List[Transfer], Seq(Struct(Transfer))]


@variant(6)
@dataclass(frozen=True)
class PlaceHold(Command):
    """Reserves money on `from_` for a later capture into `to` (6)."""

    id: Id
    from_: Id
    to: Id
    amount: Amount
    currency: CurrencyCode
    expires_at_ms: TimestampMs


@variant(7)
@dataclass(frozen=True)
class CaptureHold(Command):
    """Moves up to the held amount, releasing the rest (7)."""

    hold: Id
    amount: Amount


@variant(8)
@dataclass(frozen=True)
class VoidHold(Command):
    """Releases a hold without moving money (8)."""

    hold: Id


@variant(9)
@dataclass(frozen=True)
class RegisterMerchant(Command):
    """Registers a merchant and the account its takings go to (9)."""

    merchant: Id
    account: Id


@variant(10)
@dataclass(frozen=True)
class RegisterTerminal(Command):
    """Registers a POS terminal of a merchant (10); `mac_key` is Option<Vec<u8>>; `location` is
    where it stands, if known: its sales that name no location are priced there."""

    terminal: Id
    merchant: Id
    mac_key: Annotated[Optional[bytes], Opt(BYTES)] = None
    location: Annotated[Optional[GeoPoint], Opt(Struct(GeoPoint))] = None


@variant(11)
@dataclass(frozen=True)
class RegisterOperator(Command):
    """Registers a merchant operator (11)."""

    operator: Id
    merchant: Id


@variant(12)
@dataclass(frozen=True)
class Authorize(Command):
    """A user authorizes an account for a limit and receives a one-time code (12)."""

    id: Id
    user: Id
    account: Id
    limit: Amount
    expires_at_ms: TimestampMs
    nonce: Nonce


@variant(13)
@dataclass(frozen=True)
class SettlePos(Command):
    """A POS terminal settles a purchase with the user's id and secure code (13).

    `location` is where the sale happens, when the terminal knows: a coupon's
    location-adjusted value then applies.
    """

    id: Id
    user: Id
    code: Text
    amount: Amount
    currency: CurrencyCode
    terminal: Id
    coupon: OptId = None
    hold_until_ms: OptU64 = None
    location: Annotated[Optional[GeoPoint], Opt(Struct(GeoPoint))] = None


@variant(14)
@dataclass(frozen=True)
class ReversePos(Command):
    """Reverses an approved POS settlement (14)."""

    settlement: Id


@variant(15)
@dataclass(frozen=True)
class OpenBill(Command):
    """Opens a virtual bill with an effective time window (15)."""

    bill: Id
    user: Id
    account: Id
    merchant: Id
    opens_at_ms: TimestampMs
    closes_at_ms: TimestampMs


@variant(16)
@dataclass(frozen=True)
class AddBillItem(Command):
    """A terminal adds an item to an open bill (16)."""

    bill: Id
    terminal: Id
    item_ref: Text
    quantity: U32Field
    unit_amount: Amount


@variant(17)
@dataclass(frozen=True)
class SubmitBill(Command):
    """Totals the bill and issues a challenge (17)."""

    bill: Id
    nonce: Nonce


@variant(18)
@dataclass(frozen=True)
class ConfirmBill(Command):
    """The user confirms the bill with the challenge (18); `location` is where, as for SettlePos."""

    bill: Id
    challenge: Text
    coupon: OptId = None
    location: Annotated[Optional[GeoPoint], Opt(Struct(GeoPoint))] = None


@variant(19)
@dataclass(frozen=True)
class CancelBill(Command):
    """Cancels an unpaid bill (19)."""

    bill: Id


@variant(20)
@dataclass(frozen=True)
class RequestSplit(Command):
    """Posts a payment request to a group (20)."""

    split: Id
    requester: Id
    requester_account: Id
    total: Amount
    currency: CurrencyCode
    members: Annotated[List[SplitMember], Seq(Struct(SplitMember))]
    shares: Annotated[SplitShares, EnumOf(SplitShares)]
    expires_at_ms: TimestampMs


@variant(21)
@dataclass(frozen=True)
class PaySplitShare(Command):
    """A member pays their share into the split's escrow (21)."""

    split: Id
    member: Id


@variant(22)
@dataclass(frozen=True)
class CancelSplit(Command):
    """Cancels a split; paid shares are refunded (22)."""

    split: Id


@variant(23)
@dataclass(frozen=True)
class AddContact(Command):
    """Links two users as contacts (23)."""

    user: Id
    contact: Id


@variant(24)
@dataclass(frozen=True)
class IssueCoupon(Command):
    """A merchant issues a coupon to a user (24)."""

    coupon: Id
    merchant: Id
    holder: Id
    currency: CurrencyCode
    rule: Annotated[DeductionRule, Struct(DeductionRule)]
    adjustments: Annotated[List[ValueAdjustment], Seq(Struct(ValueAdjustment))]
    valid_from_ms: TimestampMs
    valid_until_ms: TimestampMs
    reward: Annotated[Optional[DeductionRule], Opt(Struct(DeductionRule))]
    nonce: Nonce


@variant(25)
@dataclass(frozen=True)
class ShareCoupon(Command):
    """The holder shares a coupon into their pool (25)."""

    coupon: Id
    user: Id


@variant(26)
@dataclass(frozen=True)
class ClaimCoupon(Command):
    """A contact of the sharer claims a pooled coupon (26)."""

    coupon: Id
    claimer: Id
    nonce: Nonce


@variant(27)
@dataclass(frozen=True)
class RedeemCoupon(Command):
    """A merchant operator redeems a coupon by code (27)."""

    id: Id
    operator: Id
    code: Text
    amount: Amount
    location: Annotated[Optional[GeoPoint], Opt(Struct(GeoPoint))] = None


@variant(28)
@dataclass(frozen=True)
class RegisterApiKey(Command):
    """Registers an API key (28); `secret_hash` is exactly 32 bytes."""

    key_id: Id
    role: Annotated[Principal, EnumOf(Principal)]
    secret_hash: Annotated[bytes, FixedBytes(32)]


@variant(29)
@dataclass(frozen=True)
class RevokeApiKey(Command):
    """Revokes an API key (29)."""

    key_id: Id


@variant(30)
@dataclass(frozen=True)
class Tick(Command):
    """Advances time: expires what is due (30)."""


@variant(31)
@dataclass(frozen=True)
class RevokeAuthorization(Command):
    """Revokes a secure-code authorization: its code stops working at once (31)."""

    authorization: Id


@variant(32)
@dataclass(frozen=True)
class RefundPos(Command):
    """Gives back part of an approved POS settlement `of` (32): RefundPos(Refund { of, refund,
    amount }). `refund` is this refund's own id, scoped by `of`: a retry with the same id and
    amount is answered again with the first answer; another amount is `IdReused`."""

    of: Id
    refund: Id
    amount: Amount


@variant(33)
@dataclass(frozen=True)
class RefundBill(Command):
    """Gives back part of a paid bill `of` (33): RefundBill(Refund { of, refund, amount }),
    with the same retry rules as RefundPos."""

    of: Id
    refund: Id
    amount: Amount


@variant(34)
@dataclass(frozen=True)
class RefundSplit(Command):
    """Refunds a completed split whole (34): the requester's account pays every member's account
    back its share, all or nothing. Answered `Refunded { amount: total, remaining: 0 }`, again to
    a retry; a split that is not completed is `NotReversible`."""

    split: Id


COMMAND = EnumOf(Command)

__all__ = [cls.__name__ for cls in Command.VARIANTS.values()] + ["Command", "COMMAND"]
