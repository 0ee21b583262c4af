//! bb-cti (being written).
