//! Every limit of the engine in one place. Each is enforced at the edge with a clear rejection;
//! units and qualifiers come last in the names (`hold_ttl_ms_max`).

/// Longest identifier (accounts, transfers, bills, users, ...), in bytes.
pub const ID_LENGTH_MAX: usize = 64;
/// Settlement ids that begin with this are the ISO 8583 listener's,
/// `iso:<terminal>:<STAN>:<MMDDhhmmss>`: a settlement may take one only if it names that
/// terminal, and no hold may take one (`invalid_field`), so nobody can occupy the ids of another
/// terminal's future sales.
pub const ISO_SETTLEMENT_ID_PREFIX: &str = "iso:";
/// Largest amount a single command may move, in minor units (10^15).
pub const AMOUNT_MINOR_MAX: u64 = 1_000_000_000_000_000;
/// Largest absolute posted balance of an account, in minor units (10^17). Credits that would
/// pass it are rejected with `overflow`; i64 keeps 90x headroom above it for refunds.
pub const BALANCE_MINOR_MAX: i64 = 100_000_000_000_000_000;
/// Most commands one `commit` call accepts.
pub const BATCH_COMMANDS_MAX: usize = 8_190;
/// Most transfers in one linked (or unlinked) transfer batch command.
pub const TRANSFER_BATCH_MAX: usize = 1_000;
/// Longest lifetime of a hold, in milliseconds (30 days).
pub const HOLD_TTL_MS_MAX: u64 = 30 * 24 * 3_600_000;
/// Longest validity of a secure-code authorization, in milliseconds (7 days).
pub const AUTHORIZATION_TTL_MS_MAX: u64 = 7 * 24 * 3_600_000;
/// Most authorizations (active or recently resolved) a user keeps at once.
pub const AUTHORIZATIONS_PER_USER_MAX: usize = 32;
/// How long after its authorization's expiry a spent or expired secure code is still declined
/// for what happened to it (`code_already_used`, `code_revoked`, `expired`); after it the code
/// is forgotten (`incorrect_code`, as a code never issued) and leaves memory (1 day).
pub const SPENT_CODE_REMEMBERED_MS: u64 = 24 * 3_600_000;
/// Digits of a POS secure code.
pub const SECURE_CODE_DIGITS: u32 = 8;
/// Wrong secure codes a user may send within `CODE_FAILURE_WINDOW_MS` before being locked out.
pub const CODE_FAILURES_MAX: u32 = 5;
/// Window over which wrong secure codes are counted, and the lockout length, in milliseconds.
pub const CODE_FAILURE_WINDOW_MS: u64 = 15 * 60_000;
/// Most refunds of one POS settlement or one bill (each keeps its id and amount for retries).
pub const REFUNDS_MAX: usize = 16;
/// Most commands that may wait for one step in flight to another partition (a bill's charge or
/// refund, a payment redeeming a coupon; each is kept until the step is final); past it a
/// command naming the bill or coupon is refused as if the step had been approved
/// (`state_machine/transit/waiting.rs`), so that waiting costs a bounded amount of memory however
/// long the other partition takes.
pub const STEP_WAITING_MAX: usize = 16;
/// Most items on one virtual bill.
pub const BILL_ITEMS_MAX: usize = 500;
/// Largest quantity of one bill item.
pub const BILL_ITEM_QUANTITY_MAX: u32 = 10_000;
/// Longest effective window of a virtual bill, in milliseconds (1 day).
pub const BILL_WINDOW_MS_MAX: u64 = 24 * 3_600_000;
/// Digits of a bill verification challenge.
pub const BILL_CHALLENGE_DIGITS: u32 = 6;
/// Wrong challenges before a submitted bill is cancelled.
pub const BILL_CHALLENGE_FAILURES_MAX: u32 = 5;
/// Longest item reference on a bill, in bytes.
pub const ITEM_REF_LENGTH_MAX: usize = 64;
/// Most members of a group-payment split.
pub const SPLIT_MEMBERS_MAX: usize = 100;
/// Longest lifetime of a split request, in milliseconds (30 days).
pub const SPLIT_TTL_MS_MAX: u64 = 30 * 24 * 3_600_000;
/// Longest validity of a coupon, in milliseconds (366 days).
pub const COUPON_TTL_MS_MAX: u64 = 366 * 24 * 3_600_000;
/// Most value adjustments (time window, location) on one coupon.
pub const COUPON_ADJUSTMENTS_MAX: usize = 8;
/// Largest adjustment factor, in percent of the base discount (10x).
pub const COUPON_FACTOR_PERCENT_MAX: u32 = 1_000;
/// Largest radius of a location adjustment, in metres.
pub const COUPON_RADIUS_M_MAX: u32 = 1_000_000;
/// Digits of a coupon redemption code.
pub const COUPON_CODE_DIGITS: u32 = 12;
/// Most contacts of one user.
pub const CONTACTS_PER_USER_MAX: usize = 1_000;
/// Most coupons in one user's share pool.
pub const POOL_COUPONS_MAX: usize = 1_000;
/// Longest terminal MAC key, in bytes.
pub const MAC_KEY_LENGTH_MAX: usize = 64;
/// Longest secure code or challenge a caller may send, in bytes (longer input is malformed).
pub const CODE_LENGTH_MAX: usize = 16;
/// How long the ids of applied transfers, deposits and withdrawals are remembered for
/// idempotent repeats: at least this long, at most twice this long (24 hours, as payment APIs
/// keep idempotency keys). A repeat after that is a new command.
pub const IDEMPOTENCY_WINDOW_MS: u64 = 24 * 3_600_000;
/// Most entries of an object's metadata.
pub const METADATA_ENTRIES_MAX: usize = 16;
/// Longest metadata key, in bytes (1.. of `A-Z a-z 0-9 . _ : -`).
pub const METADATA_KEY_LENGTH_MAX: usize = 40;
/// Longest metadata value, in characters (Unicode scalar values; no control characters).
pub const METADATA_VALUE_LENGTH_MAX: usize = 500;
/// How long a resolved object (a POS settlement, authorization, hold, bill or split) stays in
/// memory before it moves to storage, by default (`EngineConfig::resolved_in_memory_ms`).
pub const RESOLVED_IN_MEMORY_MS_DEFAULT: u64 = 60_000;
