//! A members query as the caller gave it, the checks that need neither the
//! schema nor a request, and the prepared form (every check passed, filters
//! encoded) that pages are fetched with.

use crate::error::{Error, Result};
use crate::filter::{self, Filter};

/// Longest accepted audience id, in bytes.
pub const MAX_AUDIENCE_ID_LEN: usize = 256;
/// Largest page size the API accepts.
pub const MAX_LIMIT: u32 = 1000;

/// A members query as the caller gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub audience_id: String,
    pub filters: Vec<Filter>,
    pub limit: u32,
}

impl Query {
    pub fn new(audience_id: impl Into<String>, filters: Vec<Filter>, limit: u32) -> Query {
        Query {
            audience_id: audience_id.into(),
            filters,
            limit,
        }
    }

    /// Every check that needs no schema and no request.
    pub fn check_local(&self) -> Result<()> {
        check_audience_id(&self.audience_id)?;
        check_limit(self.limit)?;
        filter::validate_local(&self.filters)
    }
}

/// A query that passed every check, with its encoded filter parameters.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub query: Query,
    /// `filter=...&filter=...` (possibly empty).
    pub filter_params: String,
    /// Whether the pages fetched for it are stored in the response cache
    /// (they are always looked up there). Streaming listings do not store
    /// theirs: a million members would only push every other answer out.
    pub fill_cache: bool,
}

impl Prepared {
    /// The same query, reading the response cache without filling it.
    pub fn streaming(mut self) -> Self {
        self.fill_cache = false;
        self
    }
}

/// An audience id must be one path segment: non-empty, at most 256 bytes, no
/// `/`, `?`, `#`, `..`, whitespace or control characters.
pub fn check_audience_id(id: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::validation(format!(
            "audience id {:?} {why}",
            crate::error::excerpt(id.as_bytes(), 60)
        )))
    };
    if id.is_empty() {
        return Err(Error::validation("audience id is empty"));
    }
    if id.len() > MAX_AUDIENCE_ID_LEN {
        return bad("is too long");
    }
    if id.contains(['/', '?', '#', '\\']) || id.contains("..") {
        return bad("may not contain '/', '?', '#', '\\\\' or '..'");
    }
    if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("may not contain whitespace or control characters");
    }
    Ok(())
}

/// `limit` must be within 1..=1000.
pub fn check_limit(limit: u32) -> Result<()> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {limit}"
        )))
    }
}
