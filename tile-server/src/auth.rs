//! Who is calling: an API key from `Authorization: Bearer KEY` or `?key=KEY` (for WMS clients
//! that cannot set headers), checked against the stored salted hashes. No key is anonymous; a
//! wrong, revoked or expired key is a 401. Keys never reach the logs.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Uri};
use cuulong_core::access::{verify, Caller};

use crate::error::ApiError;
use crate::state::AppState;

/// The checked caller of a request.
pub struct Auth(pub Caller);

/// The key a request presents, from `Authorization: Bearer KEY` or `?key=KEY`.
fn presented_key(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(k) = v.strip_prefix("Bearer ") {
            return Some(k.trim().to_owned());
        }
        // HTTP Basic with the key as the password (user name free): what SensorThings
        // clients such as FROST's and QGIS offer.
        if let Some(k) = v.strip_prefix("Basic ").and_then(basic_password) {
            return Some(k);
        }
    }
    uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "key")
            .map(|(_, v)| v.to_owned())
    })
}

fn basic_password(encoded: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (_, password) = text.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
}

/// The outcome of [`authenticate`], left in the request's extensions for the handlers.
#[derive(Clone)]
pub struct Authenticated(pub Result<Caller, ApiError>);

/// Where a request comes from, for the anonymous budget: the peer's address (an IPv6 peer by
/// its /64, which one host typically holds whole), or "unknown" in-process. Behind a trusted
/// proxy (`--trusted-proxy`), the client address that proxy reported in `X-Forwarded-For`.
fn peer(state: &AppState, req: &Request) -> String {
    let connected = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // IPv4-mapped peers of a dual-stack socket as the IPv4 clients they are.
    let client = connected.map(|ip| client_address(ip, req.headers(), &state.trusted_proxies));
    match client.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(ip)) => ip.to_string(),
        Some(IpAddr::V6(ip)) => {
            let s = ip.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

/// A `--trusted-proxy` value: a network (`10.0.0.0/8`, `::1/128`) or one address.
pub fn parse_trusted_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("'{text}' is neither an address nor a network such as 10.0.0.0/8"))
}

fn is_trusted(ip: IpAddr, trusted: &[ipnet::IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// The client a request is charged to: the connected peer, unless that peer is a trusted
/// proxy; then `X-Forwarded-For` is read from the right (each proxy appends the address it
/// was reached from) past the trusted proxies, and the first address not among them is the
/// client. What a client wrote into the header itself sits left of that and is never
/// believed; a malformed entry stops the walk at the last address known good.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    if trusted.is_empty() || !is_trusted(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    // Later header lines were appended later: walk them, and each line's entries, backwards.
    for line in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(line) = line.to_str() else {
            return client;
        };
        for entry in line.rsplit(',') {
            let Ok(hop) = entry.trim().parse::<IpAddr>() else {
                return client;
            };
            client = hop;
            if !is_trusted(hop, trusted) {
                return client;
            }
        }
    }
    client
}

/// Checks the presented key (none is anonymous; a wrong, revoked or expired one is a 401) and,
/// when `rate_limited`, charges the request to the key's budget — or, without a valid key, to
/// its address's anonymous budget, so neither anonymous floods nor key guessing go unlimited.
pub fn authenticate(
    state: &AppState,
    req: &Request,
    rate_limited: bool,
) -> Result<Caller, ApiError> {
    let checked = match presented_key(req.headers(), req.uri()) {
        None => Ok(Caller::Anonymous),
        // The operator's scrape token is no API key: the metrics handler reads it itself.
        Some(key) if is_metrics_token(state, Some(&key)) => Ok(Caller::Anonymous),
        Some(key) => verify(&state.keys.load(), &key, chrono::Utc::now())
            .map(Caller::from_key)
            .map_err(|e| ApiError::Unauthorized(e.to_string())),
    };
    if rate_limited {
        match &checked {
            Ok(Caller::Key { name, .. }) => state.rate_limit.check(name)?,
            // The address is written out only when there is a budget to charge.
            _ if state.anonymous_limit.per_minute() > 0 => {
                state.anonymous_limit.check(&peer(state, req))?
            }
            _ => {}
        }
    }
    checked
}

/// Whether `presented` is the operator's `--metrics-token` (compared in constant time).
pub fn is_metrics_token(state: &AppState, presented: Option<&str>) -> bool {
    match (state.metrics_token.as_deref(), presented) {
        (Some(token), Some(p)) if !token.is_empty() && token.len() == p.len() => {
            token
                .bytes()
                .zip(p.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        }
        _ => false,
    }
}

/// Whether the key a stream was opened with still stands, as the caller it is now (grants
/// may have changed); `None` once it has been revoked, has expired or is gone.
pub fn recheck(state: &AppState, key: Option<&str>) -> Option<Caller> {
    match key {
        None => Some(Caller::Anonymous),
        Some(k) => verify(&state.keys.load(), k, chrono::Utc::now())
            .ok()
            .map(Caller::from_key),
    }
}

/// The key presented with a request (for streams that re-check it while they last).
pub struct PresentedKey(pub Option<String>);

impl FromRequestParts<Arc<AppState>> for PresentedKey {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(PresentedKey(presented_key(&parts.headers, &parts.uri)))
    }
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        if let Some(Authenticated(checked)) = parts.extensions.get::<Authenticated>() {
            return checked.clone().map(Auth);
        }
        // Outside the middleware (a router without it): check the key, no rate limit.
        match presented_key(&parts.headers, &parts.uri) {
            None => Ok(Auth(Caller::Anonymous)),
            Some(key) if is_metrics_token(state, Some(&key)) => Ok(Auth(Caller::Anonymous)),
            Some(key) => verify(&state.keys.load(), &key, chrono::Utc::now())
                .map(|k| Auth(Caller::from_key(k)))
                .map_err(|e| ApiError::Unauthorized(e.to_string())),
        }
    }
}

/// Writes queued audit records to the store about once a second.
pub async fn audit_writer(
    store: Arc<dyn cuulong_store::Store>,
    mut rx: tokio::sync::mpsc::Receiver<cuulong_core::access::AuditRecord>,
) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        while let Ok(r) = rx.try_recv() {
            batch.push(r);
        }
        if let Err(e) = store.record_reads(&batch).await {
            tracing::warn!(error = %e, records = batch.len(), "could not write the audit log");
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", l.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let trusted = vec![
            parse_trusted_proxy("127.0.0.1").unwrap(),
            parse_trusted_proxy("10.0.0.0/8").unwrap(),
        ];
        let nginx = ip("127.0.0.1");
        // nginx appended the address it was reached from.
        let h = forwarded(&["203.0.113.7"]);
        assert_eq!(client_address(nginx, &h, &trusted), ip("203.0.113.7"));
        // A client's own X-Forwarded-For is left of what the proxies wrote: not believed.
        let h = forwarded(&["198.51.100.1, 203.0.113.7"]);
        assert_eq!(client_address(nginx, &h, &trusted), ip("203.0.113.7"));
        // Through two trusted proxies, in one line or in two.
        let h = forwarded(&["198.51.100.1, 203.0.113.7, 10.1.2.3"]);
        assert_eq!(client_address(nginx, &h, &trusted), ip("203.0.113.7"));
        let h = forwarded(&["198.51.100.1, 203.0.113.7", "10.1.2.3"]);
        assert_eq!(client_address(nginx, &h, &trusted), ip("203.0.113.7"));
        // A peer that is no trusted proxy is the client, whatever it writes.
        let h = forwarded(&["203.0.113.7"]);
        assert_eq!(
            client_address(ip("192.0.2.9"), &h, &trusted),
            ip("192.0.2.9")
        );
        assert_eq!(client_address(nginx, &h, &[]), nginx, "no proxy trusted");
        // Garbage stops the walk at the last good address; no header is the proxy itself.
        let h = forwarded(&["203.0.113.7, not-an-address, 10.1.2.3"]);
        assert_eq!(client_address(nginx, &h, &trusted), ip("10.1.2.3"));
        assert_eq!(client_address(nginx, &HeaderMap::new(), &trusted), nginx);
        // An IPv4 proxy seen on a dual-stack socket is still that proxy.
        let h = forwarded(&["2001:db8::1"]);
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), &h, &trusted),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn trusted_proxies_parse_as_networks_or_addresses() {
        assert_eq!(
            parse_trusted_proxy("::1").unwrap(),
            "::1/128".parse::<ipnet::IpNet>().unwrap()
        );
        assert!(parse_trusted_proxy("10.0.0.0/8").is_ok());
        let e = parse_trusted_proxy("10.0.0.0/33").unwrap_err();
        assert!(e.contains("10.0.0.0/33"), "{e}");
        assert!(parse_trusted_proxy("nginx").is_err());
    }
}
