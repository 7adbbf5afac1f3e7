//! HTTP(S) to the cloud: one keep-alive ureq agent with timeouts, a size cap and our own trust.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use ureq::Agent;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::config::CloudSection;
use crate::{Error, Result};

/// The content type the spec prescribes for every POST.
pub const CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// What went wrong in one exchange; all of them are logged and survived.
#[derive(Debug)]
pub enum ExchangeError {
    /// No connection, a timeout, a TLS failure or a cut connection (ureq's error kept).
    Network(ureq::Error),
    /// The answer was cut or could not be read to its end.
    Read(std::io::Error),
    /// The cloud answered with a status other than 2xx.
    Status(u16),
    /// The answer was larger than `[cloud] max_response_bytes`.
    TooLarge(u64),
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Network(e) => write!(f, "{e}"),
            ExchangeError::Read(e) => write!(f, "reading the answer: {e}"),
            ExchangeError::Status(s) => write!(f, "HTTP status {s}"),
            ExchangeError::TooLarge(n) => write!(f, "answer larger than {n} bytes, dropped"),
        }
    }
}

impl std::error::Error for ExchangeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExchangeError::Network(e) => Some(e),
            ExchangeError::Read(e) => Some(e),
            ExchangeError::Status(_) | ExchangeError::TooLarge(_) => None,
        }
    }
}

impl ExchangeError {
    /// Whether the cloud could not be reached or did not finish its answer (as opposed to an
    /// answer it gave: a status or an oversized body).
    pub(crate) fn is_network(&self) -> bool {
        matches!(self, ExchangeError::Network(_) | ExchangeError::Read(_))
    }
}

/// The connection to the cloud, shared by the scheduler and the uploader (each with its own clone).
#[derive(Clone)]
pub struct Transport {
    agent: Agent,
    /// Downloads may take long: they are bounded per read, not as a whole.
    download_agent: Agent,
    base: String,
    max_body: u64,
}

impl Transport {
    /// Builds the agent from `[cloud]`. A configured root CA replaces the built-in roots, and
    /// certificate verification cannot be turned off by anything the cloud sends.
    pub fn new(cloud: &CloudSection) -> Result<Transport> {
        let mut tls = TlsConfig::builder();
        if let Some(path) = &cloud.root_ca {
            tls = tls.root_certs(load_roots(path)?);
        }
        let tls = tls.build();
        let config = Agent::config_builder()
            .timeout_connect(Some(Duration::from_millis(cloud.connect_timeout_ms)))
            .timeout_global(Some(Duration::from_millis(cloud.connect_timeout_ms + cloud.read_timeout_ms)))
            .http_status_as_error(false)
            // A redirect is an answer we do not follow: a POST must not turn into a GET elsewhere.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .no_delay(true)
            .max_idle_connections_per_host(2)
            .user_agent(concat!("facegate/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.clone())
            .build();
        let download = Agent::config_builder()
            .timeout_connect(Some(Duration::from_millis(cloud.connect_timeout_ms)))
            .timeout_per_read(Some(Duration::from_millis(cloud.read_timeout_ms)))
            .http_status_as_error(false)
            .max_redirects(3)
            .no_delay(true)
            .user_agent(concat!("facegate/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build();
        Ok(Transport {
            agent: Agent::with_parts(
                config,
                ureq::unversioned::transport::DefaultConnector::default(),
                LiteralFirst::default(),
            ),
            download_agent: download.into(),
            base: cloud.url.trim().trim_end_matches('/').to_string(),
            max_body: cloud.max_response_bytes,
        })
    }

    /// The full URL of a protocol path such as `/device/register`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a JSON body to `base + path` and returns the answer's body.
    pub fn post(&self, path: &str, body: &[u8]) -> Result<Vec<u8>, ExchangeError> {
        let url = self.url(path);
        let mut resp =
            self.agent.post(&url).header("Content-Type", CONTENT_TYPE).send(body).map_err(ExchangeError::Network)?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(ExchangeError::Status(status));
        }
        read_limited(resp.body_mut().as_reader(), self.max_body)
    }

    /// Starts a GET of `url` from byte `offset` (a Range request when `offset > 0`).
    /// Returns the status, the `Content-Range`/`Content-Length` headers and the body reader.
    pub fn get_from(&self, url: &str, offset: u64) -> Result<Download, ExchangeError> {
        let mut req = self.download_agent.get(url);
        if offset > 0 {
            req = req.header("Range", format!("bytes={offset}-"));
        }
        let resp = req.call().map_err(ExchangeError::Network)?;
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let content_range = header("content-range");
        let content_length = header("content-length").and_then(|v| v.trim().parse().ok());
        let etag = header("etag").or_else(|| header("last-modified"));
        let reader = Box::new(resp.into_body().into_reader());
        Ok(Download { status, content_range, content_length, validator: etag, reader })
    }
}

/// A download in progress.
pub struct Download {
    /// HTTP status (200 full, 206 partial).
    pub status: u16,
    /// The `Content-Range` header of a 206 answer.
    pub content_range: Option<String>,
    /// The `Content-Length` header.
    pub content_length: Option<u64>,
    /// ETag or Last-Modified, to notice that the file changed between attempts.
    pub validator: Option<String>,
    /// The body.
    pub reader: Box<dyn Read + Send>,
}

fn read_limited(reader: impl Read, limit: u64) -> Result<Vec<u8>, ExchangeError> {
    let mut out = Vec::new();
    let read = reader.take(limit + 1).read_to_end(&mut out).map_err(ExchangeError::Read)?;
    if read as u64 > limit {
        return Err(ExchangeError::TooLarge(limit));
    }
    Ok(out)
}

fn load_roots(path: &std::path::Path) -> Result<RootCerts> {
    let pem = std::fs::read(path).map_err(|e| Error::io_path("reading root CA", path, e))?;
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::Config(format!("{}: not a PEM certificate file: {e}", path.display())));
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "{}: no certificate found (expected PEM '-----BEGIN CERTIFICATE-----')",
            path.display()
        )));
    }
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// Takes an IP-literal cloud address as it is and leaves host names to ureq's resolver, which
/// runs every lookup on a thread of its own when a timeout is set — once per request, even on a
/// kept-alive connection.
#[derive(Debug, Default)]
struct LiteralFirst(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        if let Some(authority) = uri.authority() {
            let host = authority.host().trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = host.parse::<std::net::IpAddr>() {
                let port = authority.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
                let mut addrs = self.empty();
                addrs.push(std::net::SocketAddr::new(ip, port));
                return Ok(addrs);
            }
        }
        self.0.resolve(uri, config, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::resolver::Resolver;

    fn resolve(url: &str) -> Vec<std::net::SocketAddr> {
        let config = Agent::config_builder().build();
        let uri: ureq::http::Uri = url.parse().unwrap();
        LiteralFirst::default()
            .resolve(&uri, &config, ureq::unversioned::transport::NextTimeout::default())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn ip_literals_are_taken_as_they_are_with_the_scheme_port() {
        assert_eq!(resolve("http://127.0.0.1:8090/p"), vec!["127.0.0.1:8090".parse().unwrap()]);
        assert_eq!(resolve("http://10.1.2.3/p"), vec!["10.1.2.3:80".parse().unwrap()]);
        assert_eq!(resolve("https://10.1.2.3/p"), vec!["10.1.2.3:443".parse().unwrap()]);
        assert_eq!(resolve("https://[::1]:8443/p"), vec!["[::1]:8443".parse().unwrap()]);
    }

    #[test]
    fn host_names_go_to_the_system_resolver() {
        let addrs = resolve("http://localhost:8090/p");
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8090), "{addrs:?}");
    }
}
