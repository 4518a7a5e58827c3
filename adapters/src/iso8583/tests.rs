//! Codec tests: pyiso8583 vectors, round trips, every error, MAC, framing, and no-panic sweeps.

use super::*;

/// A message encoded by pyiso8583 4.0.1 (`iso8583.encode(doc, spec=default_ascii)`) and the
/// fields `iso8583.decode` gives back for it.
struct Vector {
    name: &'static str,
    wire: &'static [u8],
    mti: &'static str,
    fields: &'static [(u8, &'static str)],
}

/// Key of the `*_signed` vectors: their field 64 is, in Python,
/// `hmac.new(MAC_KEY, encode(doc without "64"), sha256).digest()[:8].hex().upper()`.
const MAC_KEY: &[u8] = b"kassa-test-mac-key-0123456789abcdef";

const VECTORS: &[Vector] = &[
    Vector {
        name: "auth_0100",
        wire: b"01007220000000C180001641111111111111110000000000000123450611123456000123TERM0001MERCHANT00000010\
            26kassa:order=42;channel=pos840",
        mti: "0100",
        fields: &[
            (2, "4111111111111111"),
            (3, "000000"),
            (4, "000000012345"),
            (7, "0611123456"),
            (11, "000123"),
            (41, "TERM0001"),
            (42, "MERCHANT0000001"),
            (48, "kassa:order=42;channel=pos"),
            (49, "840"),
        ],
    },
    Vector {
        name: "auth_0110",
        wire: b"0110722000000EC080001641111111111111110000000000000123450611123456000123123456789012A1B2C300TERM\
            0001MERCHANT0000001840",
        mti: "0110",
        fields: &[
            (2, "4111111111111111"),
            (3, "000000"),
            (4, "000000012345"),
            (7, "0611123456"),
            (11, "000123"),
            (37, "123456789012"),
            (38, "A1B2C3"),
            (39, "00"),
            (41, "TERM0001"),
            (42, "MERCHANT0000001"),
            (49, "840"),
        ],
    },
    Vector {
        name: "fin_0200",
        wire: b"0200F220000000C1800000000000060000001641111111111111110000000000000123450611123456000123TERM0001\
            MERCHANT0000001005tip=084008ACC-000108ACC-0002",
        mti: "0200",
        fields: &[
            (2, "4111111111111111"),
            (3, "000000"),
            (4, "000000012345"),
            (7, "0611123456"),
            (11, "000123"),
            (41, "TERM0001"),
            (42, "MERCHANT0000001"),
            (48, "tip=0"),
            (49, "840"),
            (102, "ACC-0001"),
            (103, "ACC-0002"),
        ],
    },
    Vector {
        name: "fin_0210",
        wire: b"0210F22000000EC080000000000004000000164111111111111111000000000000012345061112345600012312345678\
            9012XYZ78900TERM0001MERCHANT000000184008ACC-0001",
        mti: "0210",
        fields: &[
            (2, "4111111111111111"),
            (3, "000000"),
            (4, "000000012345"),
            (7, "0611123456"),
            (11, "000123"),
            (37, "123456789012"),
            (38, "XYZ789"),
            (39, "00"),
            (41, "TERM0001"),
            (42, "MERCHANT0000001"),
            (49, "840"),
            (102, "ACC-0001"),
        ],
    },
    Vector {
        name: "rev_0400",
        wire: b"0400F220000008C080000000004000000000164111111111111111000000000000012345061112345600012312345678\
            9012TERM0001MERCHANT0000001840020000012306111234560000000000100000000000",
        mti: "0400",
        fields: &[
            (2, "4111111111111111"),
            (3, "000000"),
            (4, "000000012345"),
            (7, "0611123456"),
            (11, "000123"),
            (37, "123456789012"),
            (41, "TERM0001"),
            (42, "MERCHANT0000001"),
            (49, "840"),
            (90, "020000012306111234560000000000100000000000"),
        ],
    },
    Vector {
        name: "rev_0410",
        wire: b"0410F22000000AC080000000004000000000164111111111111111000000000000012345061112345600012312345678\
            901200TERM0001MERCHANT0000001840020000012306111234560000000000100000000000",
        mti: "0410",
        fields: &[
            (2, "4111111111111111"),
            (3, "000000"),
            (4, "000000012345"),
            (7, "0611123456"),
            (11, "000123"),
            (37, "123456789012"),
            (39, "00"),
            (41, "TERM0001"),
            (42, "MERCHANT0000001"),
            (49, "840"),
            (90, "020000012306111234560000000000100000000000"),
        ],
    },
    Vector {
        name: "net_0800",
        wire: b"0800822000000000000004000000000000000611123456000124301",
        mti: "0800",
        fields: &[(7, "0611123456"), (11, "000124"), (70, "301")],
    },
    Vector {
        name: "net_0810",
        wire: b"081082200000020000000400000000000000061112345600012400301",
        mti: "0810",
        fields: &[(7, "0611123456"), (11, "000124"), (39, "00"), (70, "301")],
    },
    Vector {
        name: "auth_0100_signed",
        wire: b"01007220000000C180011641111111111111110000000000000123450611123456000123TERM0001MERCHANT00000010\
            26kassa:order=42;channel=pos840BBBD50F5CAFAD29A",
        mti: "0100",
        fields: &[
            (2, "4111111111111111"),
            (3, "000000"),
            (4, "000000012345"),
            (7, "0611123456"),
            (11, "000123"),
            (41, "TERM0001"),
            (42, "MERCHANT0000001"),
            (48, "kassa:order=42;channel=pos"),
            (49, "840"),
            (64, "BBBD50F5CAFAD29A"),
        ],
    },
    Vector {
        name: "fin_0200_signed",
        wire: b"0200F220000000C1800100000000060000001641111111111111110000000000000123450611123456000123TERM0001\
            MERCHANT0000001005tip=0840596484949EA2F86108ACC-000108ACC-0002",
        mti: "0200",
        fields: &[
            (2, "4111111111111111"),
            (3, "000000"),
            (4, "000000012345"),
            (7, "0611123456"),
            (11, "000123"),
            (41, "TERM0001"),
            (42, "MERCHANT0000001"),
            (48, "tip=0"),
            (49, "840"),
            (64, "596484949EA2F861"),
            (102, "ACC-0001"),
            (103, "ACC-0002"),
        ],
    },
    Vector {
        name: "rev_0410_signed",
        wire: b"0410F22000000AC080010000004000000000164111111111111111000000000000012345061112345600012312345678\
            901200TERM0001MERCHANT000000184052D42DAFCCDCE6D8020000012306111234560000000000100000000000",
        mti: "0410",
        fields: &[
            (2, "4111111111111111"),
            (3, "000000"),
            (4, "000000012345"),
            (7, "0611123456"),
            (11, "000123"),
            (37, "123456789012"),
            (39, "00"),
            (41, "TERM0001"),
            (42, "MERCHANT0000001"),
            (49, "840"),
            (64, "52D42DAFCCDCE6D8"),
            (90, "020000012306111234560000000000100000000000"),
        ],
    },
    Vector {
        name: "all_fields_0200",
        wire: b"0200FFFFFFFFFFFFFFFF7FFFFFFFFFFFFFFF092345678903456784567890123455678901234566789012345677890123\
            45689012345901234560123456712345623456734564567567867897890890190101212323434545656677D89012345C\
            90123456D01234567C123456780923456789010345678901211f34:Az ~!=^07f35:Az 008f36:Az ~f37:Az ~!=^ff3\
            8:Azf3f40f41:Az ~f42:Az ~!=^f42:f43:Az ~!=^f43:Az ~!=^f43:Az ~!=^f43:Az 11f44:Az ~!=^07f45:Az 00\
            8f46:Az ~009f47:Az ~!010f48:Az ~!=f49f50f5189abcdefABCDEF013456789012345678011f54:Az ~!=^007f55:\
            Az 008f56:Az ~009f57:Az ~!010f58:Az ~!=011f59:Az ~!=^007f60:Az 008f61:Az ~009f62:Az ~!010f63:Az \
            ~!=EF0123456789abcd67889090101212342345345678456789012356789012346789012345789012345689012345679\
            012345678012345678912345678902345678901233456789012344567890123455678901234566789012345678901789\
            012345678901289012345678901239012345678901234012345678901234567890123456789012345678901ff9f93:Af\
            94:Az f95:Az ~!=^f95:Az ~!=^f95:Az ~!=^f95:Az ~!89abcdefABCDEF01C7890123456789012f98:Az ~!=^f98:\
            Az ~!=^f98119012345678907012345608f101:Az 09f102:Az ~10f103:Az ~!011f104:Az ~!=007f105:Az008f106\
            :Az 009f107:Az ~010f108:Az ~!011f109:Az ~!=007f110:Az008f111:Az 009f112:Az ~010f113:Az ~!011f114\
            :Az ~!=007f115:Az008f116:Az 009f117:Az ~010f118:Az ~!011f119:Az ~!=007f120:Az008f121:Az 009f122:\
            Az ~010f123:Az ~!011f124:Az ~!=007f125:Az008f126:Az 009f127:Az ~CDEF0123456789ab",
        mti: "0200",
        fields: &[
            (2, "234567890"),
            (3, "345678"),
            (4, "456789012345"),
            (5, "567890123456"),
            (6, "678901234567"),
            (7, "7890123456"),
            (8, "89012345"),
            (9, "90123456"),
            (10, "01234567"),
            (11, "123456"),
            (12, "234567"),
            (13, "3456"),
            (14, "4567"),
            (15, "5678"),
            (16, "6789"),
            (17, "7890"),
            (18, "8901"),
            (19, "901"),
            (20, "012"),
            (21, "123"),
            (22, "234"),
            (23, "345"),
            (24, "456"),
            (25, "56"),
            (26, "67"),
            (27, "7"),
            (28, "D89012345"),
            (29, "C90123456"),
            (30, "D01234567"),
            (31, "C12345678"),
            (32, "234567890"),
            (33, "3456789012"),
            (34, "f34:Az ~!=^"),
            (35, "f35:Az "),
            (36, "f36:Az ~"),
            (37, "f37:Az ~!=^f"),
            (38, "f38:Az"),
            (39, "f3"),
            (40, "f40"),
            (41, "f41:Az ~"),
            (42, "f42:Az ~!=^f42:"),
            (43, "f43:Az ~!=^f43:Az ~!=^f43:Az ~!=^f43:Az "),
            (44, "f44:Az ~!=^"),
            (45, "f45:Az "),
            (46, "f46:Az ~"),
            (47, "f47:Az ~!"),
            (48, "f48:Az ~!="),
            (49, "f49"),
            (50, "f50"),
            (51, "f51"),
            (52, "89abcdefABCDEF01"),
            (53, "3456789012345678"),
            (54, "f54:Az ~!=^"),
            (55, "f55:Az "),
            (56, "f56:Az ~"),
            (57, "f57:Az ~!"),
            (58, "f58:Az ~!="),
            (59, "f59:Az ~!=^"),
            (60, "f60:Az "),
            (61, "f61:Az ~"),
            (62, "f62:Az ~!"),
            (63, "f63:Az ~!="),
            (64, "EF0123456789abcd"),
            (66, "6"),
            (67, "78"),
            (68, "890"),
            (69, "901"),
            (70, "012"),
            (71, "1234"),
            (72, "2345"),
            (73, "345678"),
            (74, "4567890123"),
            (75, "5678901234"),
            (76, "6789012345"),
            (77, "7890123456"),
            (78, "8901234567"),
            (79, "9012345678"),
            (80, "0123456789"),
            (81, "1234567890"),
            (82, "234567890123"),
            (83, "345678901234"),
            (84, "456789012345"),
            (85, "567890123456"),
            (86, "6789012345678901"),
            (87, "7890123456789012"),
            (88, "8901234567890123"),
            (89, "9012345678901234"),
            (90, "012345678901234567890123456789012345678901"),
            (91, "f"),
            (92, "f9"),
            (93, "f93:A"),
            (94, "f94:Az "),
            (95, "f95:Az ~!=^f95:Az ~!=^f95:Az ~!=^f95:Az ~!"),
            (96, "89abcdefABCDEF01"),
            (97, "C7890123456789012"),
            (98, "f98:Az ~!=^f98:Az ~!=^f98"),
            (99, "90123456789"),
            (100, "0123456"),
            (101, "f101:Az "),
            (102, "f102:Az ~"),
            (103, "f103:Az ~!"),
            (104, "f104:Az ~!="),
            (105, "f105:Az"),
            (106, "f106:Az "),
            (107, "f107:Az ~"),
            (108, "f108:Az ~!"),
            (109, "f109:Az ~!="),
            (110, "f110:Az"),
            (111, "f111:Az "),
            (112, "f112:Az ~"),
            (113, "f113:Az ~!"),
            (114, "f114:Az ~!="),
            (115, "f115:Az"),
            (116, "f116:Az "),
            (117, "f117:Az ~"),
            (118, "f118:Az ~!"),
            (119, "f119:Az ~!="),
            (120, "f120:Az"),
            (121, "f121:Az "),
            (122, "f122:Az ~"),
            (123, "f123:Az ~!"),
            (124, "f124:Az ~!="),
            (125, "f125:Az"),
            (126, "f126:Az "),
            (127, "f127:Az ~"),
            (128, "CDEF0123456789ab"),
        ],
    },
];

/// pyiso8583 `default_ascii` lengths of fields 1..=128 (`LL`/`LLL`: variable up to), printed by
/// Python from `iso8583.specs.default_ascii`.
const DEFAULT_ASCII_LAYOUT: &str = concat!(
    "16 LL19 6 12 12 12 10 8 8 8 6 6 4 4 4 4 ",
    "4 4 3 3 3 3 3 3 2 2 1 9 9 9 9 LL11 ",
    "LL11 LL28 LL37 LLL104 12 6 2 3 8 15 40 LL25 LL76 LLL999 LLL999 LLL999 ",
    "3 3 3 16 16 LLL240 LLL510 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 16 ",
    "16 1 2 3 3 3 4 4 6 10 10 10 10 10 10 10 ",
    "10 12 12 12 12 16 16 16 16 42 1 2 5 7 42 16 ",
    "17 25 LL11 LL11 LL17 LL28 LL28 LLL100 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 ",
    "LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 LLL999 16 ",
);

fn build(vector: &Vector) -> Message {
    let mut message = Message::new(vector.mti).unwrap();
    for &(field, value) in vector.fields {
        message.set(field, value);
    }
    message
}

fn vector(name: &str) -> &'static Vector {
    VECTORS.iter().find(|v| v.name == name).unwrap()
}

/// Concatenation of byte slices, for building test inputs.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Marsaglia's xorshift64: deterministic pseudo-random numbers without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn pick(&mut self, alphabet: &[u8]) -> u8 {
        alphabet[self.below(alphabet.len())]
    }
}

// ---------------------------------------------------------------------------------------------
// Compatibility with pyiso8583
// ---------------------------------------------------------------------------------------------

#[test]
fn pyiso8583_vectors_decode_to_the_same_fields() {
    for v in VECTORS {
        let message = decode(v.wire).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(message.mti(), v.mti, "{}", v.name);
        let fields: Vec<(u8, &str)> = message.fields().map(|(f, d)| (f, std::str::from_utf8(d).unwrap())).collect();
        assert_eq!(fields, v.fields, "{}", v.name);
    }
}

#[test]
fn pyiso8583_vectors_encode_to_identical_bytes() {
    for v in VECTORS {
        let wire = encode(&build(v)).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(wire, v.wire, "{}", v.name);
        assert_eq!(encode(&decode(v.wire).unwrap()).unwrap(), v.wire, "{}", v.name);
    }
}

#[test]
fn pyiso8583_docstring_examples() {
    let response = Message::new("0210").unwrap().with(3, "111111").with(39, "05");
    assert_eq!(encode(&response).unwrap(), b"0210200000000200000011111105");

    let request = decode(b"02004010100000000000161234567890123456123456111").unwrap();
    assert_eq!(request.mti(), "0200");
    assert_eq!(request.get_str(2), Some("1234567890123456"));
    assert_eq!(request.get_str(12), Some("123456"));
    assert_eq!(request.get_str(20), Some("111"));
    assert_eq!(request.fields().count(), 3);
}

#[test]
fn field_table_matches_default_ascii() {
    let ours: String = (1..=FIELD_MAX)
        .map(|field| {
            let spec = field_spec(field).unwrap();
            let prefix = ["", "", "LL", "LLL"][spec.length.prefix_digits()];
            format!("{prefix}{} ", spec.length.max())
        })
        .collect();
    assert_eq!(ours, DEFAULT_ASCII_LAYOUT);
    assert_eq!(field_spec(0), None);
    assert_eq!(field_spec(129), None);
    assert_eq!(field_spec(255), None);

    let mac = field_spec(64).unwrap();
    assert_eq!((mac.length, mac.content, mac.name), (Length::Fixed(16), Content::Hex, "MAC"));
    assert_eq!(field_spec(2).unwrap().length, Length::LlVar(19));
    assert_eq!(field_spec(4).unwrap().content, Content::Numeric);
    assert_eq!(field_spec(28).unwrap().content, Content::SignedNumeric);
    assert_eq!(field_spec(41).unwrap().content, Content::Ascii);
    assert_eq!(field_spec(55).unwrap().length, Length::LllVar(510));
    assert_eq!(field_spec(128).unwrap().content, Content::Hex);
}

#[test]
fn bitmaps_are_upper_case_on_encode_and_either_case_on_decode() {
    let v = vector("auth_0100");
    assert!(v.wire.starts_with(b"01007220000000C18000"));
    let mut lower = v.wire.to_vec();
    lower[4..20].make_ascii_lowercase();
    assert_eq!(&lower[..20], b"01007220000000c18000");
    let message = decode(&lower).unwrap();
    assert_eq!(message, decode(v.wire).unwrap());
    assert_eq!(encode(&message).unwrap(), v.wire);
}

#[test]
fn secondary_bitmap_only_when_a_field_above_64_is_present() {
    let primary_only = encode(&Message::new("0800").unwrap().with(64, "0123456789ABCDEF")).unwrap();
    assert_eq!(primary_only, b"080000000000000000010123456789ABCDEF");

    let secondary = encode(&Message::new("0800").unwrap().with(128, "0123456789ABCDEF")).unwrap();
    assert_eq!(secondary, b"0800800000000000000000000000000000010123456789ABCDEF");
}

#[test]
fn empty_secondary_bitmap_is_accepted_and_dropped_on_encode() {
    // pyiso8583 decodes this to {t: 0800, p: 8000000000000000, 1: 0000000000000000}.
    let message = decode(b"080080000000000000000000000000000000").unwrap();
    assert_eq!(message.fields().count(), 0);
    assert_eq!(encode(&message).unwrap(), b"08000000000000000000");
}

#[test]
fn message_without_fields() {
    let message = decode(b"08000000000000000000").unwrap();
    assert_eq!(message, Message::new("0800").unwrap());
    assert_eq!(encode(&message).unwrap(), b"08000000000000000000");
}

#[test]
fn variable_length_fields_at_their_limits() {
    let message = Message::new("0200")
        .unwrap()
        .with(2, "")
        .with(32, "12345678901")
        .with(48, vec![b'x'; 999])
        .with(55, vec![b'E'; 510])
        .with(104, "");
    let wire = encode(&message).unwrap();
    let expected = cat(&[b"0200C0000001000102000000000001000000", b"00", b"1112345678901", b"999", &[b'x'; 999]]);
    assert!(wire.starts_with(&expected), "{}", String::from_utf8_lossy(&wire[..60]));
    assert!(wire.ends_with(&cat(&[b"510", &[b'E'; 510], b"000"])));
    assert_eq!(decode(&wire).unwrap(), message);
}

// ---------------------------------------------------------------------------------------------
// Message API and round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn message_accessors() {
    let mut message = Message::new("0100").unwrap();
    assert_eq!(message.mti(), "0100");
    message.set(11, "000001").set(4, b"000000001000".to_vec()).set(48, String::from("note"));
    assert_eq!(message.get_str(11), Some("000001"));
    assert_eq!(message.get(4), Some(&b"000000001000"[..]));
    assert!(message.contains(48));
    assert!(!message.contains(49));
    assert_eq!(message.get_str(49), None);
    assert_eq!(message.fields().map(|(f, _)| f).collect::<Vec<_>>(), [4, 11, 48]);

    message.set(48, vec![0xff]);
    assert_eq!(message.get(48), Some(&[0xff][..]));
    assert_eq!(message.get_str(48), None, "not UTF-8");
    assert_eq!(message.remove(48), Some(vec![0xff]));
    assert_eq!(message.remove(48), None);

    message.set_mti("0110").unwrap();
    assert_eq!(message.mti(), "0110");
    assert_eq!(message.set_mti("011"), Err(Iso8583Error::BadMti));
    assert_eq!(message.mti(), "0110", "unchanged after a rejected MTI");
}

/// A request/response pair of the given class, with a field above 64, signed.
fn exchange(request_mti: &str, response_mti: &str, extra: (u8, &str)) -> [Message; 2] {
    let request = Message::new(request_mti)
        .unwrap()
        .with(2, "5500000000000004")
        .with(3, "000000")
        .with(4, "000000004200")
        .with(7, "1231235959")
        .with(11, "987654")
        .with(41, "POS-0042")
        .with(42, "SHOP 17 BERLIN ")
        .with(48, "loyalty=on;split=2")
        .with(49, "978")
        .with(extra.0, extra.1);
    let response = request.clone().with(37, "000000000042").with(38, "AUTH01").with(39, "00");
    let mut pair = [request, response];
    pair[1].set_mti(response_mti).unwrap();
    for message in &mut pair {
        sign(MAC_KEY, message).unwrap();
    }
    pair
}

#[test]
fn round_trips_of_authorization_financial_reversal_and_network_messages() {
    let original = "010000000042123123595900000000000000000000";
    for (request, response, extra) in [
        ("0100", "0110", (102, "ACC-0001")),
        ("0200", "0210", (103, "ACC-0002")),
        ("0400", "0410", (90, original)),
        ("0800", "0810", (70, "301")),
    ] {
        for message in exchange(request, response, extra) {
            let wire = encode(&message).unwrap();
            assert_eq!(&wire[4..5], b"F", "{request}: secondary bitmap present");
            let decoded = decode(&wire).unwrap();
            assert_eq!(decoded, message);
            assert_eq!(decoded.get_str(64).map(str::len), Some(16));
            assert!(verify_mac(MAC_KEY, &wire, &decoded), "{request}/{response}");
            let framed = frame(&wire).unwrap();
            assert_eq!(split_frame(&framed).unwrap(), Some((framed.len(), &wire[..])));
        }
    }
}

/// A random message that satisfies the field table.
fn random_message(rng: &mut XorShift) -> Message {
    let mti: String = (0..4).map(|_| char::from(rng.pick(b"0123456789"))).collect();
    let mut message = Message::new(&mti).unwrap();
    for field in 2..=FIELD_MAX {
        if field == 65 || rng.below(4) != 0 {
            continue;
        }
        let spec = field_spec(field).unwrap();
        let len = match spec.length {
            Length::Fixed(len) => len,
            Length::LlVar(max) | Length::LllVar(max) => rng.below(max.min(40) + 1),
        };
        let value: Vec<u8> = (0..len)
            .map(|i| match spec.content {
                Content::Numeric => rng.pick(b"0123456789"),
                Content::SignedNumeric if i == 0 => rng.pick(b"CD"),
                Content::SignedNumeric => rng.pick(b"0123456789"),
                Content::Hex => rng.pick(b"0123456789abcdefABCDEF"),
                Content::Ascii => rng.byte() & 0x7f,
            })
            .collect();
        message.set(field, value);
    }
    message
}

#[test]
fn random_valid_messages_round_trip() {
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    for _ in 0..2000 {
        let message = random_message(&mut rng);
        let wire = encode(&message).unwrap();
        let decoded = decode(&wire).unwrap();
        assert_eq!(decoded, message);
        assert_eq!(encode(&decoded).unwrap(), wire);
    }
}

// ---------------------------------------------------------------------------------------------
// MAC
// ---------------------------------------------------------------------------------------------

#[test]
fn mac_is_the_first_8_bytes_of_hmac_sha256() {
    // RFC 4231 test case 1: HMAC-SHA256(0x0b * 20, "Hi There") = b0344c61d8db3853 5ca8...
    assert_eq!(mac(&[0x0b; 20], b"Hi There"), [0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53]);
}

#[test]
fn sign_and_verify_match_the_python_vectors() {
    for name in ["auth_0100_signed", "fin_0200_signed", "rev_0410_signed"] {
        let v = vector(name);
        let received = decode(v.wire).unwrap();
        assert!(verify_mac(MAC_KEY, v.wire, &received), "{name}");

        let mut unsigned = build(v);
        let expected_mac = unsigned.remove(MAC_FIELD).unwrap();
        let unsigned_vector = vector(name.trim_end_matches("_signed"));
        assert_eq!(mac_input(&unsigned).unwrap(), unsigned_vector.wire, "{name}: MACed bytes");
        assert_eq!(mac_input(&received).unwrap(), unsigned_vector.wire, "{name}: field 64 removed");

        let mut signed = unsigned.clone();
        sign(MAC_KEY, &mut signed).unwrap();
        assert_eq!(signed.get(MAC_FIELD), Some(&expected_mac[..]), "{name}");
        assert_eq!(encode(&signed).unwrap(), v.wire, "{name}");

        // Re-signing replaces the old MAC rather than MACing it.
        sign(MAC_KEY, &mut signed).unwrap();
        assert_eq!(signed.get(MAC_FIELD), Some(&expected_mac[..]), "{name}");
    }
}

#[test]
fn verify_mac_rejects_anything_off() {
    let v = vector("fin_0200_signed");
    let message = decode(v.wire).unwrap();
    assert!(verify_mac(MAC_KEY, v.wire, &message));

    assert!(!verify_mac(b"another key", v.wire, &message), "wrong key");

    let tampered = message.clone().with(4, "000000099999");
    assert!(!verify_mac(MAC_KEY, &encode(&tampered).unwrap(), &tampered), "tampered amount");

    let mut unsigned = message.clone();
    unsigned.remove(MAC_FIELD);
    assert!(!verify_mac(MAC_KEY, &encode(&unsigned).unwrap(), &unsigned), "no field 64");

    let garbled = message.clone().with(MAC_FIELD, "GGGGGGGGGGGGGGGG");
    assert!(!verify_mac(MAC_KEY, v.wire, &garbled), "field 64 not hex");

    let mut flipped = message.get(MAC_FIELD).unwrap().to_vec();
    flipped[15] = if flipped[15] == b'0' { b'1' } else { b'0' };
    let flipped = message.clone().with(MAC_FIELD, flipped);
    assert!(!verify_mac(MAC_KEY, &encode(&flipped).unwrap(), &flipped), "last MAC digit changed");

    assert!(!verify_mac(MAC_KEY, vector("fin_0200").wire, &message), "body is not this message");

    let mut lower_bitmap = v.wire.to_vec();
    lower_bitmap[4..36].make_ascii_lowercase();
    let same = decode(&lower_bitmap).unwrap();
    assert_eq!(same, message);
    assert!(!verify_mac(MAC_KEY, &lower_bitmap, &same), "non-canonical body");

    let invalid = message.clone().with(1, "0000000000000000");
    assert!(!verify_mac(MAC_KEY, v.wire, &invalid), "does not encode");
}

#[test]
fn lower_case_mac_digits_verify() {
    let mut message = build(vector("auth_0100_signed"));
    let lower = message.get_str(MAC_FIELD).unwrap().to_ascii_lowercase();
    message.set(MAC_FIELD, lower);
    assert!(verify_mac(MAC_KEY, &encode(&message).unwrap(), &message));
}

#[test]
fn sign_refuses_a_message_that_does_not_encode() {
    let mut message = Message::new("0200").unwrap().with(4, "12");
    assert_eq!(sign(MAC_KEY, &mut message), Err(Iso8583Error::WrongLength { field: 4, len: 2, expected: 12 }));
    assert!(!message.contains(MAC_FIELD));
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

#[test]
fn frames_split_back_from_a_stream_arriving_byte_by_byte() {
    let bodies: Vec<&[u8]> = VECTORS.iter().map(|v| v.wire).collect();
    let stream: Vec<u8> = bodies.iter().flat_map(|body| frame(body).unwrap()).collect();
    assert_eq!(&stream[..2], &(bodies[0].len() as u16).to_be_bytes());

    let mut buffer = Vec::new();
    let mut received = Vec::new();
    for &byte in &stream {
        buffer.push(byte);
        while let Some((consumed, body)) = split_frame(&buffer).unwrap() {
            received.push(body.to_vec());
            buffer.drain(..consumed);
        }
    }
    assert!(buffer.is_empty());
    assert_eq!(received, bodies);
}

#[test]
fn split_frame_waits_for_the_whole_frame() {
    assert_eq!(split_frame(b""), Ok(None));
    assert_eq!(split_frame(b"\x00"), Ok(None));
    assert_eq!(split_frame(b"\x00\x03ab"), Ok(None));
    assert_eq!(split_frame(b"\x00\x03abc"), Ok(Some((5, &b"abc"[..]))));
    assert_eq!(split_frame(b"\x00\x03abcd"), Ok(Some((5, &b"abc"[..]))), "the next frame stays");
    assert_eq!(split_frame(b"\x10\x00"), Ok(None), "4096 bytes announced: allowed");

    let largest = vec![b'x'; MESSAGE_BYTES_MAX];
    let framed = frame(&largest).unwrap();
    assert_eq!(&framed[..LENGTH_PREFIX_BYTES], b"\x10\x00");
    assert_eq!(split_frame(&framed), Ok(Some((MESSAGE_BYTES_MAX + 2, &largest[..]))));
}

#[test]
fn frame_errors() {
    assert_eq!(frame(b""), Err(Iso8583Error::EmptyFrame));
    assert_eq!(split_frame(b"\x00\x00"), Err(Iso8583Error::EmptyFrame));
    assert_eq!(split_frame(b"\x00\x00more"), Err(Iso8583Error::EmptyFrame));
    assert_eq!(frame(&vec![0; MESSAGE_BYTES_MAX + 1]), Err(Iso8583Error::TooLarge(4097)));
    assert_eq!(split_frame(b"\x10\x01"), Err(Iso8583Error::TooLarge(4097)));
    assert_eq!(split_frame(b"\xff\xff"), Err(Iso8583Error::TooLarge(65535)));
    assert_eq!(frame(&vec![0; 70_000]), Err(Iso8583Error::TooLarge(70_000)));
}

// ---------------------------------------------------------------------------------------------
// Every error variant
// ---------------------------------------------------------------------------------------------

fn encode_one(field: u8, value: &[u8]) -> Result<Vec<u8>, Iso8583Error> {
    encode(&Message::new("0200").unwrap().with(field, value))
}

#[test]
fn bad_mti() {
    for mti in ["", "020", "02000", "02a0", "+200", " 200", "٠٢٠٠"] {
        assert_eq!(Message::new(mti), Err(Iso8583Error::BadMti), "{mti:?}");
    }
    for wire in [&b""[..], b"02", b"020", b"02X00000000000000000", b"\xff\xff\xff\xff0000000000000000"] {
        assert_eq!(decode(wire), Err(Iso8583Error::BadMti), "{wire:?}");
    }
}

#[test]
fn bad_bitmap() {
    for wire in [
        &b"0200"[..],
        b"0200000000000000000",
        b"0200 000000000000000",
        b"0200+000000000000000",
        b"02000000000000000G00",
        b"0200-000000000000000",
        b"02008000000000000000",
        b"02008000000000000000000000000000000",
        b"020080000000000000000000000 00000000",
        b"02008000000000000000x000000000000000",
    ] {
        assert_eq!(decode(wire), Err(Iso8583Error::BadBitmap), "{}", String::from_utf8_lossy(wire));
    }
}

#[test]
fn field_1_and_field_65_are_refused() {
    assert_eq!(encode_one(1, b"0000000000000000"), Err(Iso8583Error::Field1Set));
    assert_eq!(encode_one(65, b"0000000000000000"), Err(Iso8583Error::Field65));
    // Bit 65 set: pyiso8583 would read a tertiary bitmap here.
    assert_eq!(decode(b"0800800000000000000080000000000000000000000000000000"), Err(Iso8583Error::Field65));
}

#[test]
fn unknown_field() {
    for field in [0, 129, 200, 255] {
        assert_eq!(encode_one(field, b"1"), Err(Iso8583Error::UnknownField { field }));
    }
}

#[test]
fn truncated() {
    assert_eq!(decode(b"02004000000000000000"), Err(Iso8583Error::Truncated { field: 2 }));
    assert_eq!(decode(b"020040000000000000001"), Err(Iso8583Error::Truncated { field: 2 }));
    assert_eq!(decode(b"02004000000000000000161234"), Err(Iso8583Error::Truncated { field: 2 }));
    assert_eq!(decode(b"0200200000000000000012345"), Err(Iso8583Error::Truncated { field: 3 }));
    let v = vector("fin_0200");
    assert_eq!(decode(&v.wire[..v.wire.len() - 1]), Err(Iso8583Error::Truncated { field: 103 }));
}

#[test]
fn bad_length_prefix() {
    for prefix in [&b"+5"[..], b" 5", b"5 ", b"-5", b"0x", b"\xff5"] {
        let wire = cat(&[b"02004000000000000000", prefix, b"12345"]);
        assert_eq!(decode(&wire), Err(Iso8583Error::BadLength { field: 2 }), "{prefix:?}");
    }
    assert_eq!(
        decode(b"020000000000000100001_0abcdefghij"),
        Err(Iso8583Error::BadLength { field: 48 }),
        "Python's int() would take 1_0"
    );
}

#[test]
fn not_numeric() {
    assert_eq!(encode_one(4, b"00000000100A"), Err(Iso8583Error::NotNumeric { field: 4 }));
    assert_eq!(encode_one(2, b"4111 1111"), Err(Iso8583Error::NotNumeric { field: 2 }));
    assert_eq!(encode_one(70, b"30 "), Err(Iso8583Error::NotNumeric { field: 70 }));
    assert_eq!(decode(b"02001000000000000000-00000001000"), Err(Iso8583Error::NotNumeric { field: 4 }));
}

#[test]
fn bad_amount() {
    assert_eq!(encode_one(28, b"C00000100"), Ok(b"02000000001000000000C00000100".to_vec()));
    assert_eq!(encode_one(28, b"X00000100"), Err(Iso8583Error::BadAmount { field: 28 }));
    assert_eq!(encode_one(28, b"000000100"), Err(Iso8583Error::BadAmount { field: 28 }));
    assert_eq!(encode_one(97, b"D000000000000001C"), Err(Iso8583Error::BadAmount { field: 97 }));
    assert_eq!(decode(b"02000000001000000000c00000100"), Err(Iso8583Error::BadAmount { field: 28 }));
}

#[test]
fn not_hex() {
    assert_eq!(encode_one(64, b"0123456789ABCDEG"), Err(Iso8583Error::NotHex { field: 64 }));
    assert_eq!(encode_one(52, b"0123456789abcde "), Err(Iso8583Error::NotHex { field: 52 }));
    assert_eq!(decode(b"02000000000000000001012345678ZABCDEF"), Err(Iso8583Error::NotHex { field: 64 }));
}

#[test]
fn not_ascii() {
    assert_eq!(encode_one(48, "café".as_bytes()), Err(Iso8583Error::NotAscii { field: 48 }));
    assert_eq!(encode_one(41, b"TERM\x800001"[..8].as_ref()), Err(Iso8583Error::NotAscii { field: 41 }));
    assert_eq!(decode(b"02000000000000800000TERM\xff001"), Err(Iso8583Error::NotAscii { field: 41 }));
}

#[test]
fn too_long() {
    assert_eq!(encode_one(2, b"41111111111111111111"), Err(Iso8583Error::TooLong { field: 2, len: 20, max: 19 }));
    assert_eq!(encode_one(48, &[b'x'; 1000]), Err(Iso8583Error::TooLong { field: 48, len: 1000, max: 999 }));
    assert_eq!(
        decode(b"020040000000000000002041111111111111111111"),
        Err(Iso8583Error::TooLong { field: 2, len: 20, max: 19 })
    );
    let wire = cat(&[b"02000000000000000200511", &[b'E'; 511]]);
    assert_eq!(decode(&wire), Err(Iso8583Error::TooLong { field: 55, len: 511, max: 510 }));
}

#[test]
fn wrong_length() {
    assert_eq!(encode_one(3, b"12345"), Err(Iso8583Error::WrongLength { field: 3, len: 5, expected: 6 }));
    assert_eq!(encode_one(64, b""), Err(Iso8583Error::WrongLength { field: 64, len: 0, expected: 16 }));
    assert_eq!(encode_one(128, &[b'0'; 17]), Err(Iso8583Error::WrongLength { field: 128, len: 17, expected: 16 }));
}

#[test]
fn trailing_bytes() {
    let v = vector("net_0800");
    assert_eq!(decode(&cat(&[v.wire, b"X"])), Err(Iso8583Error::TrailingBytes(1)));
    assert_eq!(decode(b"08000000000000000000\x00\x00\x00"), Err(Iso8583Error::TrailingBytes(3)));
}

#[test]
fn encode_reports_the_lowest_offending_field() {
    let message = Message::new("0200").unwrap().with(49, "x").with(4, "1").with(128, "");
    assert_eq!(encode(&message), Err(Iso8583Error::WrongLength { field: 4, len: 1, expected: 12 }));
}

#[test]
fn error_messages_name_the_problem_and_the_field() {
    let cases = [
        (Iso8583Error::BadMti, "message type indicator must be 4 ASCII digits"),
        (Iso8583Error::Truncated { field: 35 }, "field 35: message truncated"),
        (Iso8583Error::TooLong { field: 2, len: 20, max: 19 }, "field 2: 20 bytes exceed the maximum of 19"),
        (Iso8583Error::WrongLength { field: 3, len: 5, expected: 6 }, "field 3: 5 bytes, expected exactly 6"),
        (Iso8583Error::TrailingBytes(3), "3 unexpected bytes after the last field"),
        (Iso8583Error::TooLarge(5000), "message of 5000 bytes exceeds the maximum of 4096"),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding never panics
// ---------------------------------------------------------------------------------------------

/// Decodes `bytes`; when that succeeds, the message must survive an encode/decode round trip.
fn decode_checked(bytes: &[u8]) -> bool {
    let Ok(message) = decode(bytes) else { return false };
    let wire = encode(&message).unwrap_or_else(|e| panic!("decoded but does not encode ({e}): {bytes:?}"));
    assert_eq!(decode(&wire).unwrap(), message);
    assert!(wire.len() <= bytes.len());
    true
}

#[test]
fn every_truncation_of_every_vector_is_an_error() {
    for v in VECTORS {
        for end in 0..v.wire.len() {
            assert!(!decode_checked(&v.wire[..end]), "{} cut at {end} decoded", v.name);
        }
        assert!(decode_checked(v.wire));
    }
}

#[test]
fn every_single_byte_corruption_decodes_or_fails_cleanly() {
    // Every byte value for a few vectors (primary only, secondary bitmap, MAC); for the rest (kept
    // quick in debug builds) the values that matter to the parser: digits, hex letters of both
    // cases, signs, separators, control and non-ASCII bytes, and single-bit flips; bit flips and
    // two odd bytes for the long all-fields vector.
    const EXHAUSTIVE: &[&str] = &["net_0800", "net_0810", "fin_0200_signed"];
    const REPLACEMENTS: &[u8] = b"\x00\x01\x1f 09:ACDFGacfgx+-=~\x7f\x80\xc3\xfe\xff";
    let mut accepted = 0;
    for v in VECTORS {
        let mut bytes = v.wire.to_vec();
        for pos in 0..bytes.len() {
            let original = bytes[pos];
            let replacements: Vec<u8> = if EXHAUSTIVE.contains(&v.name) {
                (0..=255).collect()
            } else if bytes.len() > 300 {
                vec![original ^ 0x01, original ^ 0x20, original ^ 0x80, b' ', 0xff]
            } else {
                REPLACEMENTS.iter().copied().chain([original ^ 0x01, original ^ 0x20, original ^ 0x80]).collect()
            };
            for replacement in replacements {
                bytes[pos] = replacement;
                accepted += usize::from(decode_checked(&bytes));
            }
            bytes[pos] = original;
        }
    }
    assert!(accepted > 0, "some corruptions (e.g. of text fields) are still valid messages");
}

#[test]
fn random_bytes_decode_or_fail_cleanly() {
    let mut rng = XorShift(0x0123_4567_89ab_cdef);
    for round in 0..6000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = match round % 3 {
            // Anything at all.
            0 => (0..len).map(|_| rng.byte()).collect(),
            // A plausible header, then digits: gets past the MTI and bitmaps into the fields.
            1 => {
                let mut bytes: Vec<u8> = (0..4).map(|_| rng.pick(b"0123456789")).collect();
                bytes.extend((0..32).map(|_| rng.pick(b"0123456789ABCDEFabcdef")));
                bytes.extend((0..len).map(|_| rng.pick(b"0123456789CD")));
                bytes
            }
            // A valid message with a random tail cut off or appended.
            _ => {
                let mut bytes = encode(&random_message(&mut rng)).unwrap();
                if rng.below(2) == 0 {
                    bytes.truncate(rng.below(bytes.len() + 1));
                } else {
                    bytes.extend((0..rng.below(4)).map(|_| rng.byte()));
                }
                bytes
            }
        };
        decode_checked(&bytes);
        let _ = split_frame(&bytes);
    }
}
