//! A hook through which every external request is counted (the operator's metrics implement it).

use std::fmt::Debug;
use std::time::Duration;

/// Hears about every request a vendor client sends.
pub trait RequestObserver: Send + Sync + Debug {
    /// One request: its system (`trackvia`, `workato`), operation, outcome (the status code, or
    /// `timeout`, `unreachable`, `broken`), how long it took, and which request budget it waited
    /// for and how long.
    fn observe(&self, request: &Observed<'_>);
}

/// One observed request.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// `trackvia` or `workato`.
    pub system: &'static str,
    /// The operation (`list views`, `update connection`, ...).
    pub operation: &'static str,
    /// The HTTP status, or the transport failure.
    pub outcome: &'a str,
    /// Time from sending to the whole answer.
    pub elapsed: Duration,
    /// The request budget it spent.
    pub budget: &'static str,
    /// Time spent waiting for that budget.
    pub waited: Duration,
}
