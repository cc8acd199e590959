//! Recommender encoders: raw user / item ids -> table rows; row 0 is the cold-start row.

use serde::Deserialize;
use std::collections::HashMap;

/// `encoders.json`.
#[derive(Debug, Deserialize)]
pub struct Encoders {
    /// Row used for ids never seen in training.
    pub unknown_index: i64,
    /// Raw user id -> row.
    pub users: HashMap<String, i64>,
    /// Raw item id -> row.
    pub items: HashMap<String, i64>,
    /// Raw user id -> item rows the user already rated (excluded from recommendations).
    #[serde(default)]
    pub seen_items: HashMap<String, Vec<i64>>,
}

/// Which side of a pair fell back to the cold-start row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ColdStart {
    /// Both ids known.
    None,
    /// The user was not in training: mu + item bias.
    UnknownUser,
    /// The item was not in training: mu + user bias.
    UnknownItem,
    /// Neither: the global mean.
    Both,
}

impl ColdStart {
    /// Label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::UnknownUser => "unknown_user",
            Self::UnknownItem => "unknown_item",
            Self::Both => "both",
        }
    }
}

impl Encoders {
    /// Rows for a (user, item) pair and the cold-start kind.
    pub fn encode(&self, user: &str, item: &str) -> (i64, i64, ColdStart) {
        let u = self.users.get(user).copied();
        let i = self.items.get(item).copied();
        let kind = match (u, i) {
            (Some(_), Some(_)) => ColdStart::None,
            (None, Some(_)) => ColdStart::UnknownUser,
            (Some(_), None) => ColdStart::UnknownItem,
            (None, None) => ColdStart::Both,
        };
        (u.unwrap_or(self.unknown_index), i.unwrap_or(self.unknown_index), kind)
    }

    /// Item rows sorted ascending with their raw ids, for scoring every item.
    pub fn items_by_row(&self) -> Vec<(i64, String)> {
        let mut v: Vec<(i64, String)> = self.items.iter().map(|(k, &r)| (r, k.clone())).collect();
        v.sort_unstable();
        v
    }
}
