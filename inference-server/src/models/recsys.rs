//! The recommender: rating for (user, item) pairs and top-k items for a user.

use super::score_table::{self, ScoreTable};
use super::{LoadError, ModelError};
use crate::featurize::recsys::{ColdStart, Encoders};
use crate::package::{ModelMeta, PackageFiles};
use crate::runtime::Plan;
use crate::telemetry::Stages;
use std::borrow::Cow;

/// The largest score table built at load (64 MiB: 16 million (user, item) pairs, e.g. 10,000
/// users by 1,600 items). Larger catalogues score every item per request instead.
pub const MAX_SCORE_TABLE_BYTES: u64 = 64 << 20;

/// A loaded recommender.
#[derive(Debug)]
pub struct RecsysModel {
    encoders: Encoders,
    /// Item rows, ascending: the catalogue a recommendation ranks.
    item_rows: Vec<i64>,
    /// The raw item id of each of `item_rows`.
    item_ids: Vec<String>,
    plan: Plan,
    /// Every user's score for every item, when it fits [`MAX_SCORE_TABLE_BYTES`].
    scores: Option<ScoreTable>,
}

/// One recommended item.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Recommendation {
    /// Raw item id.
    pub item_id: String,
    /// Predicted rating.
    pub rating: f32,
}

impl RecsysModel {
    /// Build from the package's `encoders.json`, with a score table of at most
    /// [`MAX_SCORE_TABLE_BYTES`].
    pub fn new(meta: &ModelMeta, files: &PackageFiles, plan: Plan) -> Result<Self, LoadError> {
        Self::with_score_table_limit(meta, files, plan, MAX_SCORE_TABLE_BYTES)
    }

    /// Build from the package's `encoders.json`; score every user against every item now when
    /// that table takes at most `max_table_bytes` (0: never).
    pub fn with_score_table_limit(
        meta: &ModelMeta,
        files: &PackageFiles,
        plan: Plan,
        max_table_bytes: u64,
    ) -> Result<Self, LoadError> {
        let encoders: Encoders = files.json("encoders.json")?;
        let (item_rows, item_ids): (Vec<i64>, Vec<String>) = encoders.items_by_row().into_iter().unzip();
        if item_rows.is_empty() {
            return Err(LoadError::Invalid("encoders.json has no items".into()));
        }
        // Rows 0..=the largest user row, the cold-start row included (none when that is negative;
        // a negative row outside the table scores per request).
        let max_user_row = encoders.users.values().copied().chain([encoders.unknown_index]).max().unwrap_or(0);
        let users = usize::try_from(max_user_row).ok().map(|r| r.saturating_add(1));
        let fits = |u: &usize| ScoreTable::bytes_for(*u, item_rows.len()) <= max_table_bytes;
        let scores = match users.filter(fits) {
            Some(users) => Some(ScoreTable::build(&plan, users, &item_rows)?),
            None => {
                if max_table_bytes > 0 {
                    let items = item_rows.len();
                    tracing::info!(model = %meta.name, ?users, items, max_table_bytes, "no score table (too large, or a negative user row): recommendations score every item per request");
                }
                None
            }
        };
        Ok(Self { encoders, item_rows, item_ids, plan, scores })
    }

    /// Whether recommendations are a table lookup (cheap enough to answer inline).
    pub fn has_score_table(&self) -> bool {
        self.scores.is_some()
    }

    /// Bytes held beyond the package: the score table.
    pub fn derived_bytes(&self) -> u64 {
        self.scores.as_ref().map_or(0, ScoreTable::bytes)
    }

    /// Predicted rating and cold-start kind per (user, item).
    pub fn predict(&self, pairs: &[(&str, &str)], stages: &mut Stages) -> Result<Vec<(f32, ColdStart)>, ModelError> {
        let (users, items, kinds) = stages.time(
            |s| &mut s.featurize,
            || {
                let mut users = Vec::with_capacity(pairs.len());
                let mut items = Vec::with_capacity(pairs.len());
                let mut kinds = Vec::with_capacity(pairs.len());
                for (u, i) in pairs {
                    let (ur, ir, k) = self.encoders.encode(u, i);
                    users.push(ur);
                    items.push(ir);
                    kinds.push(k);
                }
                (users, items, kinds)
            },
        );
        let shape = [pairs.len()];
        let ratings = stages.time(|s| &mut s.infer, || self.plan.run_i64(&[(&shape, &users), (&shape, &items)]))?;
        Ok(ratings.into_iter().zip(kinds).collect())
    }

    /// The k best-rated items the user has not rated yet, and whether the user was unknown.
    pub fn top_k(&self, user: &str, k: usize, stages: &mut Stages) -> Result<(Vec<Recommendation>, bool), ModelError> {
        let (row, _, kind) = self.encoders.encode(user, "");
        let known = kind != ColdStart::Both;
        let scores: Cow<'_, [f32]> = match self.scores.as_ref().and_then(|t| t.row(row)) {
            Some(scores) => Cow::Borrowed(scores),
            None => {
                let users = vec![row; self.item_rows.len()];
                let shape = [users.len()];
                let run = || self.plan.run_i64(&[(&shape, &users), (&shape, &self.item_rows)]);
                Cow::Owned(stages.time(|s| &mut s.infer, run)?)
            }
        };
        let out = stages.time(
            |s| &mut s.postprocess,
            || {
                let mut seen = vec![false; self.item_rows.len()];
                for r in self.encoders.seen_items.get(user).into_iter().flatten() {
                    let first = self.item_rows.partition_point(|x| x < r);
                    let end = self.item_rows.partition_point(|x| x <= r);
                    seen[first..end].fill(true);
                }
                score_table::top_k(&scores, &seen, k)
                    .into_iter()
                    .map(|i| Recommendation { item_id: self.item_ids[i].clone(), rating: scores[i] })
                    .collect()
            },
        );
        Ok((out, !known))
    }
}
