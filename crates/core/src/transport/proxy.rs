//! The `proxy` setting: an `http://` or `https://` proxy every call of a
//! client goes through (token, discovery, API and completion callbacks),
//! with optional credentials (`http://user:pass@host:port`, percent-encoded
//! as in any URL) that are sent as `Proxy-Authorization` and never shown.
//!
//! Without the setting the standard environment variables apply, as for
//! most HTTP clients: `HTTPS_PROXY` / `https_proxy` for `https://` URLs,
//! `HTTP_PROXY` / `http_proxy` for `http://` ones, `ALL_PROXY` for both,
//! and `NO_PROXY` / `no_proxy` (`*` for every host) for the hosts reached
//! directly. With it, those variables are not read: every call goes
//! through the proxy given, `NO_PROXY` included.

use reqwest::Url;

use crate::error::{Error, Result};

/// A proxy URL, checked: scheme `http` or `https`, a host, no path, query
/// or fragment. `Debug` and [`ProxyUrl::shown`] never include the
/// credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(Url);

impl ProxyUrl {
    /// Checks `raw`. A refusal never quotes the value (it may hold a
    /// password): it says what is wrong.
    pub fn parse(raw: &str) -> Result<ProxyUrl> {
        let bad = |why: &str| {
            Error::validation(format!(
                "proxy must be an http:// or https:// URL such as http://proxy.example.com:3128 \
                 (optionally http://user:password@host:port): {why}"
            ))
        };
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it holds spaces or control characters"));
        }
        if raw.len() > crate::config::MAX_URL_LEN {
            return Err(bad("it is too long"));
        }
        let url = Url::parse(raw).map_err(|e| bad(&format!("it does not parse ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(&format!(
                "the scheme is {:?} (SOCKS proxies are not supported)",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("it names no host"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a proxy URL has no path, query or fragment"));
        }
        Ok(ProxyUrl(url))
    }

    /// The proxy as it may appear in a message or a repr: scheme, host and
    /// port, never the credentials (`http://proxy.example.com:3128`).
    pub fn shown(&self) -> String {
        format!("{}://{}", self.0.scheme(), crate::transport::peer(&self.0))
    }

    /// Whether the URL carries credentials.
    pub fn has_credentials(&self) -> bool {
        !self.0.username().is_empty() || self.0.password().is_some()
    }

    /// The reqwest proxy every request of the client goes through.
    pub(crate) fn to_reqwest(&self) -> Result<reqwest::Proxy> {
        reqwest::Proxy::all(self.0.clone())
            .map_err(|_| Error::validation(format!("proxy {} could not be used", self.shown())))
    }
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.has_credentials() {
            write!(f, "ProxyUrl({:?}, credentials=<redacted>)", self.shown())
        } else {
            write!(f, "ProxyUrl({:?})", self.shown())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn proxy_urls_are_checked_without_echoing_them() {
        let ok = ProxyUrl::parse("http://alice:s3cr%40t@proxy.corp:3128").unwrap();
        assert_eq!(ok.shown(), "http://proxy.corp:3128");
        assert!(ok.has_credentials());
        let dbg = format!("{ok:?}");
        assert!(!dbg.contains("s3cr") && !dbg.contains("alice"), "{dbg}");
        assert_eq!(
            ProxyUrl::parse("https://proxy.corp").unwrap().shown(),
            "https://proxy.corp:443"
        );
        assert!(ok.to_reqwest().is_ok());
        for raw in [
            "proxy.corp:3128",
            "socks5://u:hunter2@proxy.corp:1080",
            "ftp://u:hunter2@proxy.corp",
            "http://u:hunter2@proxy.corp:3128/path",
            "http://u:hunter2@proxy.corp:3128/?q=1",
            "http://u:hunter2@:3128",
            "http://u:hunter2@proxy corp:3128",
            "http://u:hunter2@proxy.corp:99999",
            "",
        ] {
            let e = ProxyUrl::parse(raw).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Validation, "{raw}");
            assert!(e.message.starts_with("proxy must be"), "{e}");
            assert!(!e.message.contains("hunter2"), "{e}");
        }
    }
}
