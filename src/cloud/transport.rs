//! HTTP(S) to the cloud: one keep-alive ureq agent with timeouts, a size cap and our own trust.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::Agent;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};

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
    /// The agent's resolver, kept to drop its cached addresses when a connection fails.
    resolver: CloudResolver,
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
        let resolver = CloudResolver::default();
        Ok(Transport {
            agent: Agent::with_parts(
                config,
                ureq::unversioned::transport::DefaultConnector::default(),
                resolver.clone(),
            ),
            resolver,
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
        let mut resp = self.agent.post(&url).header("Content-Type", CONTENT_TYPE).send(body).map_err(|e| {
            // The name may point elsewhere now: look it up again on the next try.
            self.resolver.forget();
            ExchangeError::Network(e)
        })?;
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
                return Err(Error::caused(
                    crate::ErrorKind::Config,
                    format!("{}: not a PEM certificate file", path.display()),
                    e,
                ));
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

/// How long a host name's addresses are used without asking the system resolver again. A
/// connection that fails drops them at once ([`Transport::post`]), so a cloud that moved is
/// looked up again on the next try.
const LOOKUP_TTL: Duration = Duration::from_secs(300);

/// The cloud's addresses: an IP literal as it is; a host name from the system resolver, kept
/// for [`LOOKUP_TTL`]. ureq's resolver runs every lookup on a thread of its own when a timeout
/// is set, once per request, even on a kept-alive connection (about 65 µs per request here):
/// the cache leaves one such lookup per [`LOOKUP_TTL`].
#[derive(Debug, Default)]
struct CloudResolver<R = ureq::unversioned::resolver::DefaultResolver>(Arc<Lookups<R>>);

#[derive(Debug, Default)]
struct Lookups<R> {
    system: R,
    /// (scheme and authority, valid until, addresses) of the last lookup.
    cached: Mutex<Option<(String, Instant, ResolvedSocketAddrs)>>,
}

impl<R> Clone for CloudResolver<R> {
    fn clone(&self) -> Self {
        CloudResolver(Arc::clone(&self.0))
    }
}

impl<R> CloudResolver<R> {
    /// Drops the cached addresses: the next request looks the name up again.
    fn forget(&self) {
        *self.0.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl<R: Resolver> Resolver for CloudResolver<R> {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let Some(authority) = uri.authority() else { return self.0.system.resolve(uri, config, timeout) };
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            let port = authority.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
            let mut addrs = self.empty();
            addrs.push(std::net::SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = format!("{}://{authority}", uri.scheme_str().unwrap_or_default());
        {
            let cached = self.0.cached.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((k, until, addrs)) = cached.as_ref() {
                if *k == key && Instant::now() < *until {
                    return Ok(addrs.clone());
                }
            }
        }
        // Not under the lock: a slow lookup must not hold up another thread's cached answer.
        let addrs = self.0.system.resolve(uri, config, timeout)?;
        *self.0.cached.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((key, Instant::now() + LOOKUP_TTL, addrs.clone()));
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn resolve_with<R: Resolver>(r: &CloudResolver<R>, url: &str) -> Vec<std::net::SocketAddr> {
        let config = Agent::config_builder().build();
        let uri: ureq::http::Uri = url.parse().unwrap();
        r.resolve(&uri, &config, ureq::unversioned::transport::NextTimeout::default()).unwrap().to_vec()
    }

    fn resolve(url: &str) -> Vec<std::net::SocketAddr> {
        resolve_with(&CloudResolver::<ureq::unversioned::resolver::DefaultResolver>::default(), url)
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

    /// A resolver that counts its lookups and answers 10.0.0.N for the Nth.
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl Resolver for Counting {
        fn resolve(
            &self,
            uri: &ureq::http::Uri,
            _: &ureq::config::Config,
            _: ureq::unversioned::transport::NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            let mut addrs = self.empty();
            let port = uri.authority().and_then(|a| a.port_u16()).unwrap_or(80);
            addrs.push(std::net::SocketAddr::new([10, 0, 0, n as u8].into(), port));
            Ok(addrs)
        }
    }

    #[test]
    fn a_host_name_is_looked_up_once_until_it_expires_fails_or_changes() {
        let r = CloudResolver::<Counting>::default();
        let lookups = || r.0.system.0.load(Ordering::SeqCst);
        let first = resolve_with(&r, "http://cloud.example:8090/device/register");
        assert_eq!(first, vec!["10.0.0.1:8090".parse().unwrap()]);
        for path in ["/face/record", "/person/operate", "/face/record"] {
            assert_eq!(resolve_with(&r, &format!("http://cloud.example:8090{path}")), first);
        }
        assert_eq!(lookups(), 1, "one lookup for four requests");
        // Another port or host is another answer.
        assert_eq!(resolve_with(&r, "http://cloud.example:9000/p"), vec!["10.0.0.2:9000".parse().unwrap()]);
        assert_eq!(lookups(), 2);
        // A failed connection drops the cached addresses.
        r.forget();
        assert_eq!(resolve_with(&r, "http://cloud.example:9000/p"), vec!["10.0.0.3:9000".parse().unwrap()]);
        // Expired: looked up again.
        r.0.cached.lock().unwrap().as_mut().unwrap().1 = Instant::now();
        assert_eq!(resolve_with(&r, "http://cloud.example:9000/p"), vec!["10.0.0.4:9000".parse().unwrap()]);
        // IP literals never reach the resolver.
        resolve_with(&r, "http://127.0.0.1:9000/p");
        assert_eq!(lookups(), 4);
    }
}
