//! Pagination: the state machine every listing follows (`nextPageToken`
//! until it is null, on over empty and short pages, a repeated cursor is a
//! pagination error) and the one bounded prefetch ([`Prefetch`]) that walks
//! a listing's pages in the background for every consumer (the Python
//! listings and iterators, the export).

use std::collections::HashSet;

use crate::error::{Error, ErrorKind, Result};

mod prefetch;

pub use prefetch::{Demand, Parked, Prefetch};

/// The pagination state machine.
#[derive(Debug, Clone, Default)]
pub struct Paginator {
    next: Option<String>,
    seen: HashSet<String>,
    done: bool,
}

impl Paginator {
    /// Starts at the first page, or at `cursor` (resuming a checkpoint).
    pub fn new(cursor: Option<String>) -> Paginator {
        let mut seen = HashSet::new();
        if let Some(c) = &cursor {
            seen.insert(c.clone());
        }
        Paginator {
            next: cursor,
            seen,
            done: false,
        }
    }

    /// The cursor to fetch next: `None` when the listing is over,
    /// `Some(None)` for the first page, `Some(Some(c))` otherwise.
    pub fn next_request(&self) -> Option<Option<&str>> {
        if self.done {
            None
        } else {
            Some(self.next.as_deref())
        }
    }

    /// Whether `cursor` was already followed (or is the one to follow now).
    pub fn has_seen(&self, cursor: &str) -> bool {
        self.seen.contains(cursor)
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Records a fetched page's `nextPageToken`. A token seen before is a
    /// server fault: the machine stops with a pagination error.
    pub fn advance(&mut self, next_page_token: Option<&str>) -> Result<()> {
        match next_page_token {
            None => {
                self.done = true;
                self.next = None;
                Ok(())
            }
            Some(t) => {
                if !self.seen.insert(t.to_string()) {
                    self.done = true;
                    self.next = None;
                    return Err(Error::new(
                        ErrorKind::Pagination,
                        format!(
                            "the server returned a cursor it had already returned (after {} pages); stopping instead of looping",
                            self.seen.len()
                        ),
                    )
                    .with_code("repeated_cursor"));
                }
                self.next = Some(t.to_string());
                Ok(())
            }
        }
    }

    /// Stops the machine (after an error).
    pub fn stop(&mut self) {
        self.done = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn paginator_follows_until_null() {
        let mut p = Paginator::new(None);
        assert_eq!(p.next_request(), Some(None));
        p.advance(Some("a")).unwrap();
        assert_eq!(p.next_request(), Some(Some("a")));
        p.advance(Some("b")).unwrap();
        assert_eq!(p.next_request(), Some(Some("b")));
        p.advance(None).unwrap();
        assert_eq!(p.next_request(), None);
    }

    #[test]
    fn paginator_stops_on_repeated_cursor() {
        let mut p = Paginator::new(None);
        p.advance(Some("a")).unwrap();
        p.advance(Some("b")).unwrap();
        let e = p.advance(Some("a")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Pagination);
        assert!(p.is_done());
        // A resumed listing treats its starting cursor as seen.
        let mut p = Paginator::new(Some("s".into()));
        assert_eq!(p.next_request(), Some(Some("s")));
        assert!(p.advance(Some("s")).is_err());
    }
}
