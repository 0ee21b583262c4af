//! bb-media (being written).
