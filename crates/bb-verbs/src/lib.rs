//! bb-verbs (being written).
