//! The one retry policy (openai-python style): which failures are worth
//! another attempt and how long to wait before it.
//!
//! - 429: wait `Retry-After` seconds (capped by `retry_after_cap`); without
//!   the header, back off as below.
//! - 500, 502, 503, 504, connection errors, timeouts and unreadable 200
//!   bodies: back off `min(base * 2^n, max) * (1 - 0.25 * rand)`.
//! - Everything else (4xx, validation, pagination faults, TLS failures such
//!   as an untrusted certificate): no retry.
//!
//! Which failures retry is decided once, by `Error::is_retryable`. `run`
//! drives any async operation through the policy; API calls, the token
//! manager, discovery and webhook delivery all use it, so there is exactly
//! one loop.

use std::future::Future;
use std::time::Duration;

use crate::config::RetryPolicy;
use crate::error::{Error, ErrorKind, Result};

impl RetryPolicy {
    /// Backoff before retry number `n` (0 for the first retry), with
    /// `jitter` in `[0, 1)` scaling the delay down by up to 25 %.
    pub fn backoff(&self, n: u32, jitter: f64) -> Duration {
        let raw = self.backoff_base * 2f64.powi(n.min(62) as i32);
        let capped = raw.min(self.backoff_max).max(0.0);
        let secs = capped * (1.0 - 0.25 * jitter.clamp(0.0, 1.0));
        saturating_secs(secs)
    }

    /// How long to wait before retrying after `err` (retry number `n`), or
    /// `None` when `err` is not retryable or the retries are used up.
    pub fn delay_for(&self, err: &Error, n: u32, jitter: f64) -> Option<Duration> {
        if n >= self.max_retries || !is_retryable(err) {
            return None;
        }
        if err.kind == ErrorKind::RateLimit {
            if let Some(secs) = err.retry_after.filter(|s| s.is_finite() && *s >= 0.0) {
                return Some(saturating_secs(secs.min(self.retry_after_cap)));
            }
        }
        Some(self.backoff(n, jitter))
    }
}

/// `secs` as a `Duration` that never panics: NaN and negatives are zero,
/// values too large for a `Duration` (a `Retry-After: 1e300`, a cap of
/// `1e300` s) saturate. (`Duration::from_secs_f64` panics on those.)
pub fn saturating_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

/// Whether a failure is worth another attempt.
pub fn is_retryable(err: &Error) -> bool {
    err.is_retryable()
}

/// Parses a `Retry-After` header: delta seconds (possibly fractional) or an
/// HTTP date. Returns seconds from now (never negative).
pub fn parse_retry_after(value: &str) -> Option<f64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then_some(secs);
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some((delta.num_milliseconds().max(0) as f64) / 1000.0)
}

/// A failed attempt: the error, and whether the policy may retry it
/// (`fatal` failures, such as a token endpoint that already used its own
/// retries, end the loop at once).
#[derive(Debug)]
pub struct Failure {
    pub error: Error,
    pub fatal: bool,
}

impl Failure {
    pub fn fatal(error: Error) -> Failure {
        Failure { error, fatal: true }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            error,
            fatal: false,
        }
    }
}

/// Something told about each retry (the HTTP layer counts them).
pub trait RetryObserver {
    fn on_retry(&self, err: &Error, delay: Duration);
}

impl RetryObserver for () {
    fn on_retry(&self, _: &Error, _: Duration) {}
}

/// The client's metrics count each retry (one per repeated attempt).
impl RetryObserver for crate::metrics::Metrics {
    fn on_retry(&self, _: &Error, _: Duration) {
        self.add_retry();
    }
}

/// Runs `op` (given the attempt number, 0-based) until it succeeds, fails
/// with a non-retryable error, or the retries are used up; sleeps per the
/// policy in between.
pub async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    observer: &(dyn RetryObserver + Sync),
    mut op: F,
) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut attempt = 0u32;
    loop {
        match op(attempt).await {
            Ok(v) => return Ok(v),
            Err(Failure { error, fatal: true }) => return Err(error),
            Err(Failure { error: err, .. }) => {
                let jitter: f64 = rand::random();
                match policy.delay_for(&err, attempt, jitter) {
                    None => return Err(err),
                    Some(delay) => {
                        log::debug!(
                            target: "cxone_cdp",
                            "retrying after {:?} ({}), attempt {} of {}",
                            delay,
                            err,
                            attempt + 2,
                            policy.max_retries + 1
                        );
                        observer.on_retry(&err, delay);
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            backoff_base: 0.5,
            backoff_max: 8.0,
            retry_after_cap: 60.0,
        }
    }

    fn status(s: u16) -> Error {
        Error::new(Error::kind_for_status(s), "x").with_status(s)
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let p = policy();
        assert_eq!(p.backoff(0, 0.0), Duration::from_millis(500));
        assert_eq!(p.backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(p.backoff(2, 0.0), Duration::from_secs(2));
        assert_eq!(p.backoff(5, 0.0), Duration::from_secs(8));
        assert_eq!(p.backoff(40, 0.0), Duration::from_secs(8));
        // Jitter takes off at most a quarter.
        assert_eq!(p.backoff(0, 1.0), Duration::from_millis(375));
        let d = p.backoff(1, 0.5);
        assert!(d < Duration::from_secs(1) && d >= Duration::from_millis(750));
    }

    #[test]
    fn which_statuses_retry() {
        let p = policy();
        for s in [429, 500, 502, 503, 504] {
            assert!(p.delay_for(&status(s), 0, 0.0).is_some(), "{s}");
        }
        for s in [400, 401, 403, 404, 501] {
            assert!(p.delay_for(&status(s), 0, 0.0).is_none(), "{s}");
        }
        assert!(p
            .delay_for(&Error::new(ErrorKind::Connection, "reset"), 0, 0.0)
            .is_some());
        assert!(p
            .delay_for(&Error::new(ErrorKind::Timeout, "slow"), 0, 0.0)
            .is_some());
        let tls = Error::new(ErrorKind::Connection, "untrusted").with_code(crate::error::TLS_CODE);
        assert!(p.delay_for(&tls, 0, 0.0).is_none());
        assert!(p.delay_for(&Error::validation("bad"), 0, 0.0).is_none());
        assert!(p
            .delay_for(&Error::new(ErrorKind::Pagination, "loop"), 0, 0.0)
            .is_none());
        // Retries run out.
        assert!(p.delay_for(&status(503), 2, 0.0).is_some());
        assert!(p.delay_for(&status(503), 3, 0.0).is_none());
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = policy();
        let mut e = status(429);
        e.retry_after = Some(2.0);
        assert_eq!(p.delay_for(&e, 0, 0.9), Some(Duration::from_secs(2)));
        e.retry_after = Some(3600.0);
        assert_eq!(p.delay_for(&e, 0, 0.9), Some(Duration::from_secs(60)));
        e.retry_after = None;
        assert_eq!(p.delay_for(&e, 1, 0.0), Some(Duration::from_secs(1)));
    }

    #[test]
    fn parses_retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(3.0));
        assert_eq!(parse_retry_after(" 1.5 "), Some(1.5));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(0.0)
        );
    }

    #[tokio::test]
    async fn run_retries_then_succeeds_or_gives_up() {
        let p = RetryPolicy {
            backoff_base: 0.001,
            ..policy()
        };
        let calls = AtomicU32::new(0);
        let r = run(&p, &(), |_| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(status(503).into())
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r.unwrap(), 2);
        calls.store(0, Ordering::SeqCst);
        let r: Result<u32> = run(&p, &(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(status(502).into()) }
        })
        .await;
        assert_eq!(r.unwrap_err().status, Some(502));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        calls.store(0, Ordering::SeqCst);
        let r: Result<u32> = run(&p, &(), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(status(404).into()) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
