//! The TCP binary protocol (being written).
