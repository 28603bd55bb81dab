//! Who a request came from: the TCP peer, unless that peer is a configured trusted proxy
//! (`api.trusted_proxies`, `notify.trusted_proxies`), in which case the last hop of
//! `X-Forwarded-For` that is not itself trusted; and the address a per-address limit counts
//! it under ([`counted_as`]). It must not believe a forwarding header from anyone else:
//! whoever sends one chooses its content.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;

/// A listener's trusted proxies (app data of each listener).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Arc<Vec<IpAddr>>);

impl TrustedProxies {
    /// The client address of a request from `peer` with `headers`: the peer itself when
    /// it is not trusted; otherwise `X-Forwarded-For` read from the right, skipping
    /// trusted hops, up to the first one that is not (an unreadable hop stops the walk at
    /// the last trusted one, which is then the client as far as we can tell).
    pub fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => client = ip,
                Ok(ip) => return Some(ip),
                Err(_) => break,
            }
        }
        Some(client)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

/// The client address of a request, as its listener's [`TrustedProxies`] say.
pub fn client_of(req: &HttpRequest) -> Option<IpAddr> {
    let trusted = req
        .app_data::<TrustedProxies>()
        .cloned()
        .unwrap_or_default();
    trusted.client(req.peer_addr(), req.headers())
}

/// The address every per-address limit counts `ip` under: an IPv4 address as itself (an
/// IPv4-mapped IPv6 one as its IPv4 address), an IPv6 address as its /64. A /64 is the
/// smallest block a network hands out to one link (RFC 6177, RFC 7421): one customer has
/// at least 2^64 addresses, so counting them one by one would give them 2^64 budgets.
pub fn counted_as(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn trusted(ips: &[&str]) -> TrustedProxies {
        TrustedProxies(Arc::new(ips.iter().map(|i| i.parse().unwrap()).collect()))
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let t = trusted(&["10.0.0.1"]);
        let peer = "203.0.113.9:4000".parse().ok();

        assert_eq!(
            t.client(peer, &headers(&["6.6.6.6"])),
            "203.0.113.9".parse().ok()
        );
    }

    #[test]
    fn behind_trusted_proxies_the_last_untrusted_hop_is_the_client() {
        let t = trusted(&["10.0.0.1", "10.0.0.2"]);
        let peer = "10.0.0.1:4000".parse().ok();

        let cases = [
            (vec!["6.6.6.6, 198.51.100.7, 10.0.0.2"], "198.51.100.7"),
            (vec!["6.6.6.6", "198.51.100.7"], "198.51.100.7"),
            (vec!["not-an-ip, 10.0.0.2"], "10.0.0.2"),
            (vec![], "10.0.0.1"),
        ];
        for (xff, client) in cases {
            assert_eq!(
                t.client(peer, &headers(&xff)),
                client.parse().ok(),
                "{xff:?}"
            );
        }
    }

    #[test]
    fn ipv6_peers_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let cases = [
            ("203.0.113.7", "203.0.113.7"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
            ("2001:db8:1:2::1", "2001:db8:1:2::"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"),
            ("2001:db8:1:3::1", "2001:db8:1:3::"),
            ("::1", "::"),
        ];
        for (ip, counted) in cases {
            assert_eq!(
                counted_as(ip.parse().unwrap()),
                counted.parse::<IpAddr>().unwrap(),
                "{ip}"
            );
        }
    }
}
