// SPDX-License-Identifier: GPL-2.0
//! Host-side unit tests: the module's pure Rust files, built for the host and
//! checked against simple reference models with many random operations.
#![allow(dead_code)]

#[path = "../../../rust/itree.rs"]
pub mod itree;
#[path = "../../../rust/policy.rs"]
pub mod policy;
#[path = "../../../rust/input.rs"]
pub mod input;
#[path = "../../../rust/cost.rs"]
pub mod cost;
#[path = "../../../rust/holds.rs"]
pub mod holds;
#[path = "../../../rust/topn.rs"]
pub mod topn;

#[cfg(test)]
mod tests;
