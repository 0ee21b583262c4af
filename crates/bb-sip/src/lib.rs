//! bb-sip (being written).
