//! softphone
