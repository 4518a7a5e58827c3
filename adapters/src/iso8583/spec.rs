//! The field table: pyiso8583 `default_ascii` lengths plus ISO 8583:1987 content classes.

use super::Iso8583Error;

/// Highest field number of a message with primary and secondary bitmaps.
pub const FIELD_MAX: u8 = 128;

/// How a field's length is carried on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Exactly this many bytes, no prefix.
    Fixed(usize),
    /// Two ASCII digits giving the byte length (at most the value held), then the data.
    LlVar(usize),
    /// Three ASCII digits giving the byte length (at most the value held), then the data.
    LllVar(usize),
}

impl Length {
    /// Number of ASCII digits in the length prefix: 0, 2 or 3.
    pub const fn prefix_digits(self) -> usize {
        match self {
            Length::Fixed(_) => 0,
            Length::LlVar(_) => 2,
            Length::LllVar(_) => 3,
        }
    }

    /// The exact length of a fixed field, the maximum length of a variable one.
    pub const fn max(self) -> usize {
        match self {
            Length::Fixed(n) | Length::LlVar(n) | Length::LllVar(n) => n,
        }
    }
}

/// Which bytes a field may hold (its ISO 8583:1987 attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// `n`: ASCII digits only.
    Numeric,
    /// `x+n`: `C` (credit) or `D` (debit), then ASCII digits.
    SignedNumeric,
    /// `b`: binary, carried as ASCII hexadecimal digits (either case) in `default_ascii`.
    Hex,
    /// `a`, `an`, `ans`, `z`, ...: any 7-bit ASCII byte, exactly what pyiso8583's `ascii` codec accepts.
    Ascii,
}

impl Content {
    /// Checks that `value`, the data of `field`, is made of the allowed bytes.
    pub fn check(self, field: u8, value: &[u8]) -> Result<(), Iso8583Error> {
        let ok = match self {
            Content::Numeric => value.iter().all(u8::is_ascii_digit),
            Content::SignedNumeric => {
                matches!(value.split_first(), Some((b'C' | b'D', digits)) if digits.iter().all(u8::is_ascii_digit))
            }
            Content::Hex => value.iter().all(u8::is_ascii_hexdigit),
            Content::Ascii => value.is_ascii(),
        };
        if ok {
            return Ok(());
        }
        Err(match self {
            Content::Numeric => Iso8583Error::NotNumeric { field },
            Content::SignedNumeric => Iso8583Error::BadAmount { field },
            Content::Hex => Iso8583Error::NotHex { field },
            Content::Ascii => Iso8583Error::NotAscii { field },
        })
    }
}

/// The definition of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// How its length is carried (pyiso8583 `len_type` and `max_len`).
    pub length: Length,
    /// Which bytes it may hold.
    pub content: Content,
    /// Its name, as pyiso8583 `default_ascii` describes it.
    pub name: &'static str,
}

impl FieldSpec {
    /// Checks the length and content of `value`, the data of `field` (without length prefix).
    pub fn check(&self, field: u8, value: &[u8]) -> Result<(), Iso8583Error> {
        let len = value.len();
        match self.length {
            Length::Fixed(expected) if len != expected => {
                return Err(Iso8583Error::WrongLength { field, len, expected });
            }
            Length::LlVar(max) | Length::LllVar(max) if len > max => {
                return Err(Iso8583Error::TooLong { field, len, max });
            }
            _ => {}
        }
        self.content.check(field, value)
    }
}

/// The spec of `field` (1..=128), or `None` for any other number.
pub fn field_spec(field: u8) -> Option<&'static FieldSpec> {
    SPECS.get(usize::from(field).checked_sub(1)?)
}

const fn fixed(len: usize, content: Content, name: &'static str) -> FieldSpec {
    FieldSpec { length: Length::Fixed(len), content, name }
}

const fn llvar(max: usize, content: Content, name: &'static str) -> FieldSpec {
    FieldSpec { length: Length::LlVar(max), content, name }
}

const fn lllvar(max: usize, content: Content, name: &'static str) -> FieldSpec {
    FieldSpec { length: Length::LllVar(max), content, name }
}

use Content::{Ascii as A, Hex as H, Numeric as N, SignedNumeric as S};

/// Fields 1..=128, index `field - 1`. Lengths are pyiso8583 4.0.1 `default_ascii` verbatim (every
/// field there is `data_enc: ascii`, `len_enc: ascii`, counted in bytes); contents follow
/// ISO 8583:1987, except track 3 (36), kept as text because real track data carries separators.
static SPECS: [FieldSpec; FIELD_MAX as usize] = [
    /*   1 */ fixed(16, H, "Bitmap, Secondary"),
    /*   2 */ llvar(19, N, "Primary Account Number (PAN)"),
    /*   3 */ fixed(6, N, "Processing Code"),
    /*   4 */ fixed(12, N, "Amount, Transaction"),
    /*   5 */ fixed(12, N, "Amount, Settlement"),
    /*   6 */ fixed(12, N, "Amount, Cardholder Billing"),
    /*   7 */ fixed(10, N, "Transmission Date and Time"),
    /*   8 */ fixed(8, N, "Amount, Cardholder Billing Fee"),
    /*   9 */ fixed(8, N, "Conversion Rate, Settlement"),
    /*  10 */ fixed(8, N, "Conversion Rate, Cardholder Billing"),
    /*  11 */ fixed(6, N, "System Trace Audit Number"),
    /*  12 */ fixed(6, N, "Time, Local Transaction"),
    /*  13 */ fixed(4, N, "Date, Local Transaction"),
    /*  14 */ fixed(4, N, "Date, Expiration"),
    /*  15 */ fixed(4, N, "Date, Settlement"),
    /*  16 */ fixed(4, N, "Date, Conversion"),
    /*  17 */ fixed(4, N, "Date, Capture"),
    /*  18 */ fixed(4, N, "Merchant Type"),
    /*  19 */ fixed(3, N, "Acquiring Institution Country Code"),
    /*  20 */ fixed(3, N, "PAN Country Code"),
    /*  21 */ fixed(3, N, "Forwarding Institution Country Code"),
    /*  22 */ fixed(3, N, "Point-of-Service Entry Mode"),
    /*  23 */ fixed(3, N, "PAN Sequence Number"),
    /*  24 */ fixed(3, N, "Network International ID (NII)"),
    /*  25 */ fixed(2, N, "Point-of-Service Condition Code"),
    /*  26 */ fixed(2, N, "Point-of-Service Capture Code"),
    /*  27 */ fixed(1, N, "Authorizing ID Response Length"),
    /*  28 */ fixed(9, S, "Amount, Transaction Fee"),
    /*  29 */ fixed(9, S, "Amount, Settlement Fee"),
    /*  30 */ fixed(9, S, "Amount, Transaction Processing Fee"),
    /*  31 */ fixed(9, S, "Amount, Settlement Processing Fee"),
    /*  32 */ llvar(11, N, "Acquiring Institution ID Code"),
    /*  33 */ llvar(11, N, "Forwarding Institution ID Code"),
    /*  34 */ llvar(28, A, "Primary Account Number, Extended"),
    /*  35 */ llvar(37, A, "Track 2 Data"),
    /*  36 */ lllvar(104, A, "Track 3 Data"),
    /*  37 */ fixed(12, A, "Retrieval Reference Number"),
    /*  38 */ fixed(6, A, "Authorization ID Response"),
    /*  39 */ fixed(2, A, "Response Code"),
    /*  40 */ fixed(3, A, "Service Restriction Code"),
    /*  41 */ fixed(8, A, "Card Acceptor Terminal ID"),
    /*  42 */ fixed(15, A, "Card Acceptor ID Code"),
    /*  43 */ fixed(40, A, "Card Acceptor Name/Location"),
    /*  44 */ llvar(25, A, "Additional Response Data"),
    /*  45 */ llvar(76, A, "Track 1 Data"),
    /*  46 */ lllvar(999, A, "Additional Data - ISO"),
    /*  47 */ lllvar(999, A, "Additional Data - National"),
    /*  48 */ lllvar(999, A, "Additional Data - Private"),
    /*  49 */ fixed(3, A, "Currency Code, Transaction"),
    /*  50 */ fixed(3, A, "Currency Code, Settlement"),
    /*  51 */ fixed(3, A, "Currency Code, Cardholder Billing"),
    /*  52 */ fixed(16, H, "PIN"),
    /*  53 */ fixed(16, N, "Security-Related Control Information"),
    /*  54 */ lllvar(240, A, "Additional Amounts"),
    /*  55 */ lllvar(510, A, "ICC data"),
    /*  56 */ lllvar(999, A, "Reserved ISO"),
    /*  57 */ lllvar(999, A, "Reserved National"),
    /*  58 */ lllvar(999, A, "Reserved National"),
    /*  59 */ lllvar(999, A, "Reserved National"),
    /*  60 */ lllvar(999, A, "Reserved National"),
    /*  61 */ lllvar(999, A, "Reserved Private"),
    /*  62 */ lllvar(999, A, "Reserved Private"),
    /*  63 */ lllvar(999, A, "Reserved Private"),
    /*  64 */ fixed(16, H, "MAC"),
    /*  65 */ fixed(16, H, "Bitmap, Extended"),
    /*  66 */ fixed(1, N, "Settlement Code"),
    /*  67 */ fixed(2, N, "Extended Payment Code"),
    /*  68 */ fixed(3, N, "Receiving Institution Country Code"),
    /*  69 */ fixed(3, N, "Settlement Institution Country Code"),
    /*  70 */ fixed(3, N, "Network Management Information Code"),
    /*  71 */ fixed(4, N, "Message Number"),
    /*  72 */ fixed(4, N, "Message Number, Last"),
    /*  73 */ fixed(6, N, "Date, Action"),
    /*  74 */ fixed(10, N, "Credits, Number"),
    /*  75 */ fixed(10, N, "Credits, Reversal Number"),
    /*  76 */ fixed(10, N, "Debits, Number"),
    /*  77 */ fixed(10, N, "Debits, Reversal Number"),
    /*  78 */ fixed(10, N, "Transfer, Number"),
    /*  79 */ fixed(10, N, "Transfer, Reversal Number"),
    /*  80 */ fixed(10, N, "Inquiries, Number"),
    /*  81 */ fixed(10, N, "Authorizations, Number"),
    /*  82 */ fixed(12, N, "Credits, Processing Fee Amount"),
    /*  83 */ fixed(12, N, "Credits, Transaction Fee Amount"),
    /*  84 */ fixed(12, N, "Debits, Processing Fee Amount"),
    /*  85 */ fixed(12, N, "Debits, Transaction Fee Amount"),
    /*  86 */ fixed(16, N, "Credits, Amount"),
    /*  87 */ fixed(16, N, "Credits, Reversal Amount"),
    /*  88 */ fixed(16, N, "Debits, Amount"),
    /*  89 */ fixed(16, N, "Debits, Reversal Amount"),
    /*  90 */ fixed(42, N, "Original Data Elements"),
    /*  91 */ fixed(1, A, "File Update Code"),
    /*  92 */ fixed(2, A, "File Security Code"),
    /*  93 */ fixed(5, A, "Response Indicator"),
    /*  94 */ fixed(7, A, "Service Indicator"),
    /*  95 */ fixed(42, A, "Replacement Amounts"),
    /*  96 */ fixed(16, H, "Message Security Code"),
    /*  97 */ fixed(17, S, "Amount, Net Settlement"),
    /*  98 */ fixed(25, A, "Payee"),
    /*  99 */ llvar(11, N, "Settlement Institution ID Code"),
    /* 100 */ llvar(11, N, "Receiving Institution ID Code"),
    /* 101 */ llvar(17, A, "File Name"),
    /* 102 */ llvar(28, A, "Account ID 1"),
    /* 103 */ llvar(28, A, "Account ID 2"),
    /* 104 */ lllvar(100, A, "Transaction Description"),
    /* 105 */ lllvar(999, A, "Reserved for ISO Use"),
    /* 106 */ lllvar(999, A, "Reserved for ISO Use"),
    /* 107 */ lllvar(999, A, "Reserved for ISO Use"),
    /* 108 */ lllvar(999, A, "Reserved for ISO Use"),
    /* 109 */ lllvar(999, A, "Reserved for ISO Use"),
    /* 110 */ lllvar(999, A, "Reserved for ISO Use"),
    /* 111 */ lllvar(999, A, "Reserved for ISO Use"),
    /* 112 */ lllvar(999, A, "Reserved for National Use"),
    /* 113 */ lllvar(999, A, "Reserved for National Use"),
    /* 114 */ lllvar(999, A, "Reserved for National Use"),
    /* 115 */ lllvar(999, A, "Reserved for National Use"),
    /* 116 */ lllvar(999, A, "Reserved for National Use"),
    /* 117 */ lllvar(999, A, "Reserved for National Use"),
    /* 118 */ lllvar(999, A, "Reserved for National Use"),
    /* 119 */ lllvar(999, A, "Reserved for National Use"),
    /* 120 */ lllvar(999, A, "Reserved for Private Use"),
    /* 121 */ lllvar(999, A, "Reserved for Private Use"),
    /* 122 */ lllvar(999, A, "Reserved for Private Use"),
    /* 123 */ lllvar(999, A, "Reserved for Private Use"),
    /* 124 */ lllvar(999, A, "Reserved for Private Use"),
    /* 125 */ lllvar(999, A, "Reserved for Private Use"),
    /* 126 */ lllvar(999, A, "Reserved for Private Use"),
    /* 127 */ lllvar(999, A, "Reserved for Private Use"),
    /* 128 */ fixed(16, H, "MAC"),
];
