//! The error codes the HTTP layer writes itself (`{"error":{"code":...}}`), besides the engine's
//! rejections (`Rejection::code`). The OpenAPI document's `ErrorCode` enum is these and the
//! rejections; `adapters/tests/openapi.rs` fails when a code is written that is not here, or one
//! here is never written.

/// Declares each code as a constant, and [`ALL`] listing them.
macro_rules! codes {
    ($($(#[doc = $doc:literal])* $name:ident => $code:literal,)*) => {
        $($(#[doc = $doc])* pub const $name: &str = $code;)*

        /// Every code of this module, in declaration order.
        pub const ALL: &[&str] = &[$($code),*];
    };
}

codes! {
    /// 400: the body is not JSON of the route's shape, or is larger than allowed.
    MALFORMED_REQUEST => "malformed_request",
    /// 400: a path segment could not be read.
    INVALID_PATH => "invalid_path",
    /// 400: the query string is not of the route's shape.
    INVALID_QUERY => "invalid_query",
    /// 400: an id (in the path or a scoped key's field) is not a valid id.
    INVALID_ID => "invalid_id",
    /// 400: not a supported ISO 4217 alpha code.
    INVALID_CURRENCY => "invalid_currency",
    /// 400: a cursor (`starting_after` of history, `after` of the event feed) is not a position.
    INVALID_CURSOR => "invalid_cursor",
    /// 400: a page `limit` outside 1..=1000.
    INVALID_LIMIT => "invalid_limit",
    /// 400: the event feed's `wait_ms` above 30000.
    INVALID_WAIT => "invalid_wait",
    /// 400: a terminal's `mac_key` is not hex.
    INVALID_MAC_KEY => "invalid_mac_key",
    /// 400 (a value that is not a string) or 422 (keys, values or count past their bounds).
    INVALID_METADATA => "invalid_metadata",
    /// 400: a key request names another role's field.
    INVALID_FIELD => "invalid_field",
    /// 400 or 422: a field the request (or this caller) needs is missing.
    MISSING_FIELD => "missing_field",
    /// 400: an unknown key role.
    INVALID_ROLE => "invalid_role",
    /// 400: a transfer batch with no transfer or more than 1000 (also an engine rejection).
    INVALID_BATCH => "invalid_batch",
    /// 404: no transfer with this id (to the admin; to a tenant an unknown id is 403).
    TRANSFER_NOT_FOUND => "transfer_not_found",
    /// 401: no API key, or one that is unknown, revoked or wrong.
    UNAUTHORIZED => "unauthorized",
    /// 503: the engine's queue is full; retry.
    BUSY => "busy",
    /// 503: the server is stopping.
    SHUTTING_DOWN => "shutting_down",
    /// 503: storage failed; the server stops.
    STORAGE_FAILED => "storage_failed",
    /// 503: another node owns the partition the request goes to; retry (nothing was applied).
    NOT_OWNER => "not_owner",
    /// 503: the engine is recovering its state at startup.
    RECOVERING => "recovering",
    /// 408: the request was not received and answered in time (written by `serve.rs`).
    REQUEST_TIMEOUT => "request_timeout",
    /// 405: the path is known, the method is not (the `Allow` header lists those it answers).
    METHOD_NOT_ALLOWED => "method_not_allowed",
    /// 404: no route has this path.
    ROUTE_NOT_FOUND => "route_not_found",
}
