//! A reader of RocksDB's own log files (`NNNNNN.log`), the files every synced write reaches
//! first. RocksDB reports damage in them only as "Corruption: checksum mismatch"; this reader
//! names the file and byte offset, and tells a torn tail (tolerated) from damage (refused).
//!
//! Format (RocksDB `db/log_format.h`, `db/log_reader.cc`): 32 KiB blocks, each a sequence of
//! physical records `masked crc32c (u32 LE) | length (u16 LE) | type (u8) | payload` (recyclable
//! types add a u32 log number to the header), padded with fewer than 7 bytes at the end of a
//! block. A logical record (one `WriteBatch`: one group commit) is one `Full` fragment or
//! `First`, `Middle`..., `Last`. The checksum covers the type byte (and log number) and the
//! payload.
//!
//! The classification follows RocksDB's `kTolerateCorruptedTailRecords` recovery, which kassa
//! uses: bytes at the end of the file that cannot form a complete record (a header or payload cut
//! short, or a fragmented record without its last fragment) are a torn write, never synced as a
//! whole and so never acknowledged; zero bytes (preallocation) are skipped; a complete fragment
//! whose checksum fails is damage, wherever it is, the last record included.

use std::path::{Path, PathBuf};

const BLOCK_BYTES: u64 = 32 * 1024;
const HEADER_BYTES: u64 = 7;
const RECYCLABLE_HEADER_BYTES: u64 = 11;
const CRC_MASK_DELTA: u32 = 0xa282_ead8;

const ZERO: u8 = 0;
const FULL: u8 = 1;
const FIRST: u8 = 2;
const MIDDLE: u8 = 3;
const LAST: u8 = 4;
const RECYCLABLE_FULL: u8 = 5;
const RECYCLABLE_FIRST: u8 = 6;
const RECYCLABLE_MIDDLE: u8 = 7;
const RECYCLABLE_LAST: u8 = 8;
const SET_COMPRESSION: u8 = 9;
const TIMESTAMP_SIZE: u8 = 10;
const RECYCLABLE_TIMESTAMP_SIZE: u8 = 11;
const PREDECESSOR_INFO: u8 = 130;
const RECYCLABLE_PREDECESSOR_INFO: u8 = 131;
/// Record types with this bit set may be ignored by readers that do not know them.
const SAFE_TO_IGNORE: u8 = 0x80;

/// One logical record of a log file: one `WriteBatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecord {
    /// Offset of its first fragment's header.
    pub offset: u64,
    /// Bytes from `offset` to the end of its last fragment (headers and padding included).
    pub len: u64,
}

/// How a log file ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEnd {
    /// Every byte belongs to a complete record (or is padding).
    Clean,
    /// The file ends inside a record: a write torn by a crash. Never acknowledged (the ack
    /// follows the fsync of the whole record); recovery drops it.
    TornTail {
        /// Where the incomplete record starts.
        offset: u64,
        /// Its bytes present in the file.
        bytes: u64,
    },
    /// A complete record is damaged: recovery refuses to guess.
    Damaged {
        /// Where the damaged fragment starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

/// What a log file holds.
#[derive(Debug, Clone)]
pub struct LogScan {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub len: u64,
    /// Its complete logical records, in order (up to the damage, if any).
    pub records: Vec<LogRecord>,
    /// How it ends.
    pub end: LogEnd,
}

/// RocksDB's log files in `dir` (`NNNNNN.log`), oldest first.
pub fn log_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut logs: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let number = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".log"))
            .and_then(|number| number.parse::<u64>().ok());
        if let Some(number) = number {
            logs.push((number, path));
        }
    }
    logs.sort();
    Ok(logs.into_iter().map(|(_, path)| path).collect())
}

/// Reads and classifies one log file.
pub fn scan(path: &Path) -> std::io::Result<LogScan> {
    let bytes = std::fs::read(path)?;
    let (records, end) = scan_bytes(&bytes);
    Ok(LogScan { path: path.to_path_buf(), len: bytes.len() as u64, records, end })
}

/// The first damaged log file in `dir`, if any (torn tails are not damage).
pub fn first_damage(dir: &Path) -> std::io::Result<Option<LogScan>> {
    for path in log_files(dir)? {
        let scanned = scan(&path)?;
        if matches!(scanned.end, LogEnd::Damaged { .. }) {
            return Ok(Some(scanned));
        }
    }
    Ok(None)
}

fn unmask(masked: u32) -> u32 {
    let rotated = masked.wrapping_sub(CRC_MASK_DELTA);
    rotated.rotate_left(15)
}

/// Takes the physical record of `kind` at `position..end` into the logical records:
/// whole, or as a fragment of the one that started at `fragment_start`. `Err`: why the log is
/// damaged there.
fn assemble(
    kind: u8,
    (position, end): (u64, u64),
    fragment_start: &mut Option<u64>,
    records: &mut Vec<LogRecord>,
) -> Result<(), String> {
    match kind {
        FULL | RECYCLABLE_FULL | FIRST | RECYCLABLE_FIRST if fragment_start.is_some() => {
            return Err("a record starts before the previous one ended".into());
        }
        FULL | RECYCLABLE_FULL => records.push(LogRecord { offset: position, len: end - position }),
        FIRST | RECYCLABLE_FIRST => *fragment_start = Some(position),
        MIDDLE | RECYCLABLE_MIDDLE | LAST | RECYCLABLE_LAST => {
            let Some(first) = *fragment_start else {
                return Err("a record continues without its start".into());
            };
            if matches!(kind, LAST | RECYCLABLE_LAST) {
                records.push(LogRecord { offset: first, len: end - first });
                *fragment_start = None;
            }
        }
        SET_COMPRESSION
        | TIMESTAMP_SIZE
        | RECYCLABLE_TIMESTAMP_SIZE
        | PREDECESSOR_INFO
        | RECYCLABLE_PREDECESSOR_INFO => {}
        other if other & SAFE_TO_IGNORE != 0 => {}
        other => return Err(format!("unknown record type {other}")),
    }
    Ok(())
}

fn scan_bytes(bytes: &[u8]) -> (Vec<LogRecord>, LogEnd) {
    let len = bytes.len() as u64;
    let mut records = Vec::new();
    let mut position = 0u64;
    // Start of the fragmented record being assembled.
    let mut fragment_start: Option<u64> = None;
    let damaged = |offset: u64, reason: &str| LogEnd::Damaged { offset, reason: reason.to_string() };
    while position < len {
        let block_left = BLOCK_BYTES - position % BLOCK_BYTES;
        if block_left < HEADER_BYTES {
            position += block_left; // Block trailer.
            continue;
        }
        let start = fragment_start.unwrap_or(position);
        let torn = LogEnd::TornTail { offset: start, bytes: len - start };
        if len - position < HEADER_BYTES {
            return (records, torn); // A header cut short.
        }
        let at = |index: u64| bytes[usize::try_from(position + index).expect("a log file fits in memory")];
        let (kind, length) = (at(6), u64::from(u16::from_le_bytes([at(4), at(5)])));
        let header = match kind {
            RECYCLABLE_FULL..=RECYCLABLE_LAST | RECYCLABLE_TIMESTAMP_SIZE | RECYCLABLE_PREDECESSOR_INFO => {
                RECYCLABLE_HEADER_BYTES
            }
            _ => HEADER_BYTES,
        };
        if kind == ZERO && length == 0 {
            // Preallocated, never written: RocksDB skips the rest of the block.
            if fragment_start.is_some() {
                return (records, damaged(position, "zero bytes in the middle of a record"));
            }
            position += block_left;
            continue;
        }
        if header + length > block_left.min(len - position) {
            // Past the end of its block: a payload cut short if this is the file's last, partial
            // block (RocksDB's "truncated record body" at EOF), a damaged length otherwise.
            if position + block_left > len {
                return (records, torn);
            }
            return (records, damaged(position, "bad record length"));
        }
        let body = |from: u64, to: u64| {
            &bytes[usize::try_from(from).expect("fits")..usize::try_from(to).expect("a log file fits in memory")]
        };
        let expected = unmask(u32::from_le_bytes(body(position, position + 4).try_into().expect("four bytes")));
        if crc32c::crc32c(body(position + 6, position + header + length)) != expected {
            let reason = "checksum mismatch in a complete record (not a torn write)";
            return (records, damaged(position, reason));
        }
        let end = position + header + length;
        if let Err(reason) = assemble(kind, (position, end), &mut fragment_start, &mut records) {
            return (records, damaged(position, &reason));
        }
        position = end;
    }
    match fragment_start {
        Some(start) => (records, LogEnd::TornTail { offset: start, bytes: len - start }),
        None => (records, LogEnd::Clean),
    }
}
