//! The recommender: rating for (user, item) pairs and top-k items for a user.

use super::{LoadError, ModelError};
use crate::featurize::recsys::{ColdStart, Encoders};
use crate::package::{ModelMeta, PackageFiles};
use crate::runtime::Plan;
use crate::telemetry::Stages;
use std::collections::HashSet;

/// A loaded recommender.
#[derive(Debug)]
pub struct RecsysModel {
    encoders: Encoders,
    items: Vec<(i64, String)>,
    plan: Plan,
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
    /// Build from the package's `encoders.json`.
    pub fn new(_meta: &ModelMeta, files: &PackageFiles, plan: Plan) -> Result<Self, LoadError> {
        let encoders: Encoders = files.json("encoders.json")?;
        let items = encoders.items_by_row();
        if items.is_empty() {
            return Err(LoadError::Invalid("encoders.json has no items".into()));
        }
        Ok(Self { encoders, items, plan })
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
        let users = vec![row; self.items.len()];
        let rows: Vec<i64> = self.items.iter().map(|(r, _)| *r).collect();
        let shape = [rows.len()];
        let scores = stages.time(|s| &mut s.infer, || self.plan.run_i64(&[(&shape, &users), (&shape, &rows)]))?;
        let out = stages.time(
            |s| &mut s.postprocess,
            || {
                let seen: HashSet<i64> =
                    self.encoders.seen_items.get(user).map(|v| v.iter().copied().collect()).unwrap_or_default();
                let mut order: Vec<usize> = (0..rows.len()).filter(|&i| !seen.contains(&rows[i])).collect();
                order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
                order
                    .into_iter()
                    .take(k)
                    .map(|i| Recommendation { item_id: self.items[i].1.clone(), rating: scores[i] })
                    .collect()
            },
        );
        Ok((out, !known))
    }
}
