//! ISO 8583:1987 ASCII messages (placeholder: being written).
