"""Python client of kassa's TCP binary protocol, version 1 (docs/protocol.md).

    from kassa_client import connect, OpenAccount, Deposit, Transfer, Currency
    with connect("127.0.0.1", 7400, api_key) as client:
        outcome = client.submit(Transfer("t-1", "alice", "bob", 250, Currency.EUR))

Standard library only. `codec`, `messages` encode and decode frames byte for byte; `client`
pipelines requests over one connection with Busy retries and reconnect-and-resend.
"""

from .client import Client, ClientOptions, ClientStats, connect
from .codec import Reader, write_varint, unzigzag, zigzag
from .commands import *  # noqa: F401,F403 - every Command variant
from .commands import Command
from .errors import *  # noqa: F401,F403 - every exception
from .messages import (
    BATCH_COMMANDS_MAX,
    FORMAT_VERSION,
    FRAME_BYTES_MAX,
    HELLO_BYTES_MAX,
    PROTOCOL_VERSION,
    Batch,
    ErrorCode,
    ErrorResponse,
    FrameBuffer,
    Hello,
    OutcomeResponse,
    OutcomesResponse,
    Ping,
    Pong,
    Request,
    RequestBody,
    Response,
    ResponseBody,
    Submit,
    SubmitWithMetadata,
    Welcome,
    body_length,
    decode_request_body,
    decode_request_frame,
    decode_response_body,
    decode_response_frame,
    encode_body,
    encode_request,
    encode_response,
)
from .types import (
    AdjustmentCondition,
    AdminRole,
    Applied,
    AppRole,
    Authorized,
    BillPaid,
    BillSubmitted,
    Captured,
    ContactRequested,
    CouponClaimed,
    CouponIssued,
    CouponRedeemed,
    Currency,
    DeductionKind,
    DeductionRule,
    Done,
    EqualShares,
    ExplicitShares,
    FixedOff,
    GeoPoint,
    Location,
    METADATA_ENTRIES_MAX,
    METADATA_KEY_LENGTH_MAX,
    METADATA_VALUE_LENGTH_MAX,
    Metadata,
    MetadataInput,
    MerchantRole,
    ObjectKind,
    OperatorRole,
    Outcome,
    PercentOff,
    Principal,
    Refunded,
    Rejected,
    BatchRejected,
    Rejection,
    Reply,
    Settled,
    SharePaid,
    SpendSave,
    SplitCancelled,
    SplitMember,
    SplitRequested,
    SplitShares,
    TerminalRole,
    Ticked,
    TimeWindow,
    TransferBatchOutcomes,
    ValueAdjustment,
    id_problem,
    metadata_problem,
    to_currency,
    validate_id,
    validate_metadata,
)

__version__ = "0.1.0"
