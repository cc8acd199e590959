//! Every user's predicted rating for every item, computed once at load by the model itself.
//!
//! A recommendation scores the whole catalogue for one user. Running the ONNX graph over every
//! item on each request costs a few hundred microseconds and a trip to the blocking pool; the
//! answers only change when the model does. So at load the model scores every (user row, item)
//! pair, in chunks of about [`ROWS_PER_RUN`] pairs, and a recommendation becomes a row lookup
//! and a top-k selection. The numbers are the graph's own outputs, for any graph that maps
//! (user row, item row) to a rating, not a re-implementation of it. A table larger than its
//! byte budget is not built and recommendations score the catalogue per request as before.

use crate::runtime::{Plan, RuntimeError};

/// Most (user, item) pairs per ONNX run while the table is built.
const ROWS_PER_RUN: usize = 64 * 1024;

/// The score of every item for every user row, row-major by user row.
#[derive(Debug)]
pub struct ScoreTable {
    items: usize,
    scores: Vec<f32>,
}

impl ScoreTable {
    /// Bytes a table of `users` rows by `items` items takes.
    pub fn bytes_for(users: usize, items: usize) -> u64 {
        (users as u64).saturating_mul(items as u64).saturating_mul(std::mem::size_of::<f32>() as u64)
    }

    /// Score `item_rows` for user rows `0..users` with `plan`.
    pub fn build(plan: &Plan, users: usize, item_rows: &[i64]) -> Result<Self, RuntimeError> {
        let items = item_rows.len();
        let users_per_run = (ROWS_PER_RUN / items.max(1)).max(1);
        let mut scores = Vec::with_capacity(users * items);
        for first in (0..users).step_by(users_per_run) {
            let last = (first + users_per_run).min(users);
            let user_col: Vec<i64> = (first..last).flat_map(|u| std::iter::repeat_n(u as i64, items)).collect();
            let item_col: Vec<i64> = (first..last).flat_map(|_| item_rows.iter().copied()).collect();
            let shape = [user_col.len()];
            let out = plan.run_i64(&[(&shape, &user_col), (&shape, &item_col)])?;
            if out.len() != user_col.len() {
                return Err(RuntimeError::new(format!(
                    "the model gave {} ratings for {} (user, item) pairs",
                    out.len(),
                    user_col.len()
                )));
            }
            scores.extend_from_slice(&out);
        }
        Ok(Self { items, scores })
    }

    /// Every item's score for `user_row`, in the order of the item rows the table was built
    /// with; `None` for a row outside the table.
    pub fn row(&self, user_row: i64) -> Option<&[f32]> {
        let start = usize::try_from(user_row).ok()?.checked_mul(self.items)?;
        self.scores.get(start..start.checked_add(self.items)?)
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        Self::bytes_for(self.scores.len(), 1)
    }
}

/// Indices of the `k` highest scores, best first, skipping indices where `excluded` is true; ties
/// go to the lower index. Selects before it sorts, so the cost is linear in the catalogue.
pub fn top_k(scores: &[f32], excluded: &[bool], k: usize) -> Vec<usize> {
    let mut candidates: Vec<usize> =
        (0..scores.len()).filter(|&i| !excluded.get(i).copied().unwrap_or(false)).collect();
    if k == 0 {
        return Vec::new();
    }
    let better = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    if k < candidates.len() {
        candidates.select_nth_unstable_by(k - 1, better);
        candidates.truncate(k);
    }
    candidates.sort_unstable_by(better);
    candidates
}

#[cfg(test)]
mod tests {
    use super::top_k;

    #[test]
    fn top_k_orders_best_first_and_breaks_ties_by_index() {
        let scores = [1.0, 3.0, 2.0, 3.0, 0.5];
        assert_eq!(top_k(&scores, &[false; 5], 3), vec![1, 3, 2]);
    }

    #[test]
    fn top_k_skips_excluded_items() {
        let scores = [1.0, 3.0, 2.0, 3.0, 0.5];
        assert_eq!(top_k(&scores, &[false, true, false, true, false], 2), vec![2, 0]);
    }

    #[test]
    fn top_k_returns_every_candidate_when_k_exceeds_them() {
        let scores = [1.0, 3.0, 2.0];
        assert_eq!(top_k(&scores, &[false, false, true], 10), vec![1, 0]);
        assert!(top_k(&scores, &[false; 3], 0).is_empty());
    }

    #[test]
    fn top_k_agrees_with_a_full_sort_on_many_inputs() {
        // A small deterministic generator; duplicates are frequent, so ties are exercised.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..200 {
            let n = 1 + round % 97;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let scores: Vec<f32> = (0..n).map(|_| (next() % 17) as f32 / 4.0).collect();
            let excluded: Vec<bool> = (0..n).map(|_| next() % 5 == 0).collect();
            let k = 1 + (next() as usize) % (n + 3);
            let mut want: Vec<usize> = (0..n).filter(|&i| !excluded[i]).collect();
            want.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            want.truncate(k);
            assert_eq!(top_k(&scores, &excluded, k), want, "scores {scores:?} excluded {excluded:?} k {k}");
        }
    }
}
