//! Cross-service tests live in `tests/`: each starts Instadash programs as separate processes and
//! talks to them only through the broker, as the services talk to each other.
