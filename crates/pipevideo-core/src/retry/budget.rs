//! The retry budget: a token bucket shared by all calls of one client, in the manner of the AWS
//! SDKs' retry quota.
//!
//! Every retry takes tokens (5; 10 after a timeout, which costs the server more and is more
//! likely an outage); a call that succeeds at its first attempt puts 1 back, and one that
//! succeeds after retrying puts back what its last retry took. The bucket holds 500, so a
//! healthy client never notices it, while under a sustained outage, after about 100 failed
//! retries, calls stop retrying and fail at once with
//! [`GiveUpReason::BudgetExhausted`](crate::retry::GiveUpReason::BudgetExhausted) instead of
//! multiplying the load on a server that is already down. Successes refill it.

/// A token bucket that bounds retries across all calls of one client. Data and state together:
/// configure with the builders, then share it (the driver keeps it behind a lock).
///
/// ```
/// use pipevideo_core::retry::RetryBudget;
///
/// let mut budget = RetryBudget::default().with_capacity(10);
/// assert!(budget.try_spend(5));
/// assert!(budget.try_spend(5));
/// assert!(!budget.try_spend(5)); // empty: no more retries for anyone
/// budget.refund(1);
/// assert_eq!(budget.available(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryBudget {
    capacity: u32,
    available: u32,
    retry_cost: u32,
    timeout_cost: u32,
    success_refund: u32,
}

impl RetryBudget {
    /// Default capacity: 500 tokens.
    pub const DEFAULT_CAPACITY: u32 = 500;
    /// Default cost of a retry: 5 tokens.
    pub const DEFAULT_RETRY_COST: u32 = 5;
    /// Default cost of a retry after a timeout (a maybe-sent failure): 10 tokens.
    pub const DEFAULT_TIMEOUT_COST: u32 = 10;
    /// Default refund of a call that succeeds at its first attempt: 1 token.
    pub const DEFAULT_SUCCESS_REFUND: u32 = 1;

    /// A budget that never runs out (every cost is 0).
    pub fn unlimited() -> Self {
        Self {
            capacity: u32::MAX,
            available: u32::MAX,
            retry_cost: 0,
            timeout_cost: 0,
            success_refund: 0,
        }
    }

    /// The same budget with a different capacity, full.
    #[must_use]
    pub fn with_capacity(self, capacity: u32) -> Self {
        Self {
            capacity,
            available: capacity,
            ..self
        }
    }

    /// The same budget with a different cost per retry.
    #[must_use]
    pub fn with_retry_cost(self, cost: u32) -> Self {
        Self {
            retry_cost: cost,
            ..self
        }
    }

    /// The same budget with a different cost per retry after a timeout.
    #[must_use]
    pub fn with_timeout_cost(self, cost: u32) -> Self {
        Self {
            timeout_cost: cost,
            ..self
        }
    }

    /// The same budget with a different refund per first-attempt success.
    #[must_use]
    pub fn with_success_refund(self, refund: u32) -> Self {
        Self {
            success_refund: refund,
            ..self
        }
    }

    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.available
    }

    /// Tokens when full.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Cost of one retry.
    pub fn retry_cost(&self) -> u32 {
        self.retry_cost
    }

    /// Cost of one retry after a timeout.
    pub fn timeout_cost(&self) -> u32 {
        self.timeout_cost
    }

    /// Refund of a call that succeeds at its first attempt.
    pub fn success_refund(&self) -> u32 {
        self.success_refund
    }

    /// Takes `cost` tokens if there are that many; `false` (and nothing taken) otherwise.
    #[must_use = "a retry may only go when the budget granted it"]
    pub fn try_spend(&mut self, cost: u32) -> bool {
        match self.available.checked_sub(cost) {
            Some(left) => {
                self.available = left;
                true
            }
            None => false,
        }
    }

    /// Puts `tokens` back, never above the capacity.
    pub fn refund(&mut self, tokens: u32) {
        self.available = self.available.saturating_add(tokens).min(self.capacity);
    }
}

impl Default for RetryBudget {
    /// 500 tokens, full; a retry costs 5, a retry after a timeout 10, a first-attempt success
    /// refunds 1.
    fn default() -> Self {
        Self {
            capacity: Self::DEFAULT_CAPACITY,
            available: Self::DEFAULT_CAPACITY,
            retry_cost: Self::DEFAULT_RETRY_COST,
            timeout_cost: Self::DEFAULT_TIMEOUT_COST,
            success_refund: Self::DEFAULT_SUCCESS_REFUND,
        }
    }
}
