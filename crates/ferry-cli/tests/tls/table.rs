//! The behaviour table over every transport.
