//! kassa-loadgen: load generation against kassa (embedded, TCP, HTTP, ISO 8583). Not built yet.
