//! kassa-tests: helpers shared by the integration tests in `tests/it`.
