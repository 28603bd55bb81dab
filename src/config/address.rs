//! Where a configured URL's host is: this machine, a special-purpose address or name (the
//! IANA IPv4 and IPv6 special-purpose address registries, multicast, the special-use
//! domain names), or a public one. The registries are written once here as tables; an IPv6
//! address that carries an IPv4 one (mapped, compatible, NAT64, 6to4) is classified by the
//! IPv4 address it reaches. It must not resolve a name (start-up does no DNS).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a host is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HostClass {
    /// This machine: loopback, the unspecified address, `localhost` in any spelling.
    ThisHost,
    /// Not publicly routable unicast: the registry entry (or rule) that says so.
    Special(&'static str),
    /// Anything else: a public address, or a name the public DNS may resolve.
    Public,
}

/// The IANA IPv4 Special-Purpose Address Registry (2024 edition), plus multicast from the
/// IPv4 address space registry; `127.0.0.0/8` and `0.0.0.0/32` are [`HostClass::ThisHost`]
/// and not listed. Entries the registry marks globally reachable (AS112, AMT, the anycast
/// /32s inside `192.0.0.0/24`) are listed too: none is where a merchant receives anything.
/// The limited broadcast address precedes `240.0.0.0/4`, which holds it.
const IPV4_SPECIAL: [(Ipv4Addr, u8, &str); 18] = [
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        "\"this network\" 0.0.0.0/8 (RFC 791)",
    ),
    (
        Ipv4Addr::new(10, 0, 0, 0),
        8,
        "private-use 10.0.0.0/8 (RFC 1918)",
    ),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space 100.64.0.0/10 (RFC 6598, carrier-grade NAT)",
    ),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        "link-local 169.254.0.0/16 (RFC 3927)",
    ),
    (
        Ipv4Addr::new(172, 16, 0, 0),
        12,
        "private-use 172.16.0.0/12 (RFC 1918)",
    ),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments 192.0.0.0/24 (RFC 6890)",
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation 192.0.2.0/24 (TEST-NET-1, RFC 5737)",
    ),
    (
        Ipv4Addr::new(192, 31, 196, 0),
        24,
        "AS112-v4 192.31.196.0/24 (RFC 7535)",
    ),
    (
        Ipv4Addr::new(192, 52, 193, 0),
        24,
        "AMT 192.52.193.0/24 (RFC 7450)",
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "deprecated 6to4 relay anycast 192.88.99.0/24 (RFC 7526)",
    ),
    (
        Ipv4Addr::new(192, 168, 0, 0),
        16,
        "private-use 192.168.0.0/16 (RFC 1918)",
    ),
    (
        Ipv4Addr::new(192, 175, 48, 0),
        24,
        "AS112 direct delegation 192.175.48.0/24 (RFC 7534)",
    ),
    (
        Ipv4Addr::new(198, 18, 0, 0),
        15,
        "benchmarking 198.18.0.0/15 (RFC 2544)",
    ),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation 198.51.100.0/24 (TEST-NET-2, RFC 5737)",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation 203.0.113.0/24 (TEST-NET-3, RFC 5737)",
    ),
    (
        Ipv4Addr::new(224, 0, 0, 0),
        4,
        "multicast 224.0.0.0/4 (RFC 5771)",
    ),
    (
        Ipv4Addr::new(255, 255, 255, 255),
        32,
        "limited broadcast 255.255.255.255 (RFC 919)",
    ),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        "reserved 240.0.0.0/4 (RFC 1112)",
    ),
];

/// The IANA IPv6 Special-Purpose Address Registry (2025 edition) without the ranges that
/// carry an IPv4 address (classified by that address: see [`embedded_ipv4`]), plus
/// multicast and the deprecated site-local prefix. `::1` and `::` are
/// [`HostClass::ThisHost`]; outside `2000::/3` nothing is global unicast anyway.
const IPV6_SPECIAL: [(Ipv6Addr, u8, &str); 13] = [
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use IPv4/IPv6 translation 64:ff9b:1::/48 (RFC 8215)",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only 100::/64 (RFC 6666)",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0),
        64,
        "dummy prefix 100:0:0:1::/64 (RFC 9780)",
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignments 2001::/23 (RFC 2928: Teredo, benchmarking, ORCHID, …)",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation 2001:db8::/32 (RFC 3849)",
    ),
    (
        Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0),
        48,
        "AS112 direct delegation 2620:4f:8000::/48 (RFC 7534)",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation 3fff::/20 (RFC 9637)",
    ),
    (
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        "segment routing SIDs 5f00::/16 (RFC 9602)",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local fc00::/7 (RFC 4193)",
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        "link-local fe80::/10 (RFC 4291)",
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "deprecated site-local fec0::/10 (RFC 3879)",
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        "multicast ff00::/8 (RFC 4291)",
    ),
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        8,
        "reserved ::/8 (RFC 4291)",
    ),
];

/// The only IPv6 space IANA allocates for global unicast (RFC 4291, the address space
/// registry).
const GLOBAL_UNICAST: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

/// Top-level names reserved for special use (RFC 6761 `test`, `invalid`, `example`;
/// RFC 6762 `local`; RFC 7686 `onion`; RFC 9476 `alt`; ICANN's `internal`; `arpa`, which
/// holds reverse-lookup names; `localdomain`, the conventional local one): none is a host
/// the provider can reach.
const SPECIAL_TLDS: [&str; 9] = [
    "test",
    "invalid",
    "example",
    "local",
    "onion",
    "alt",
    "internal",
    "arpa",
    "localdomain",
];

/// Where `host` (as the `url` crate parsed it: names lower-cased) is.
pub(super) fn classify_host(host: &url::Host<&str>) -> HostClass {
    match host {
        url::Host::Domain(name) => classify_name(name),
        url::Host::Ipv4(ip) => classify_ip(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => classify_ip(IpAddr::V6(*ip)),
    }
}

/// A name, however it is spelt: case and trailing dots do not matter.
fn classify_name(name: &str) -> HostClass {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return HostClass::ThisHost;
    }
    let Some((_, tld)) = name.rsplit_once('.') else {
        return HostClass::Special("a single-label name (no public DNS name has one label)");
    };
    if SPECIAL_TLDS.contains(&tld) || name.ends_with(".home.arpa") {
        return HostClass::Special("a special-use domain name (RFC 6761)");
    }
    HostClass::Public
}

/// Where an address is.
pub(super) fn classify_ip(ip: IpAddr) -> HostClass {
    match ip {
        IpAddr::V4(ip) => classify_v4(ip),
        IpAddr::V6(ip) => classify_v6(ip),
    }
}

fn classify_v4(ip: Ipv4Addr) -> HostClass {
    if ip.is_loopback() || ip.is_unspecified() {
        return HostClass::ThisHost;
    }
    IPV4_SPECIAL
        .iter()
        .find(|(net, len, _)| in_v4(ip, *net, *len))
        .map_or(HostClass::Public, |(_, _, name)| HostClass::Special(name))
}

fn classify_v6(ip: Ipv6Addr) -> HostClass {
    if ip.is_loopback() || ip.is_unspecified() {
        return HostClass::ThisHost;
    }
    if let Some(v4) = embedded_ipv4(ip) {
        return classify_v4(v4);
    }
    if let Some((_, _, name)) = IPV6_SPECIAL
        .iter()
        .find(|(net, len, _)| in_v6(ip, *net, *len))
    {
        return HostClass::Special(name);
    }
    if !in_v6(ip, GLOBAL_UNICAST.0, GLOBAL_UNICAST.1) {
        return HostClass::Special("outside global unicast 2000::/3 (RFC 4291)");
    }
    HostClass::Public
}

/// The IPv4 address an IPv6 one stands for: IPv4-mapped `::ffff:a.b.c.d` (RFC 4291),
/// IPv4-compatible `::a.b.c.d` (deprecated, RFC 4291), the NAT64 well-known prefix
/// `64:ff9b::/96` (RFC 6052) and 6to4 `2002:AABB:CCDD::/48` (RFC 3056).
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = |b: u128| u32::try_from(b & 0xffff_ffff).ok().map(Ipv4Addr::from);
    let prefix96 = bits >> 32;
    if prefix96 == 0xffff || prefix96 == 0 {
        return low32(bits);
    }
    if prefix96 == 0x0064_ff9b_u128 << 64 {
        return low32(bits);
    }
    if bits >> 112 == 0x2002 {
        return low32(bits >> 80);
    }
    None
}

fn in_v4(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(raw: &str) -> HostClass {
        let url = url::Url::parse(&format!("https://{raw}/")).expect("a URL");
        classify_host(&url.host().expect("a host"))
    }

    fn last_v4(net: Ipv4Addr, len: u8) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(net) | u32::MAX.checked_shr(u32::from(len)).unwrap_or(0))
    }

    fn last_v6(net: Ipv6Addr, len: u8) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(net) | u128::MAX.checked_shr(u32::from(len)).unwrap_or(0))
    }

    #[test]
    fn the_first_and_last_address_of_every_ipv4_range_are_special_and_its_neighbours_are_not_unless_listed(
    ) {
        for (net, len, name) in IPV4_SPECIAL {
            let (first, last) = (net, last_v4(net, len));
            for ip in [first, last] {
                let class = classify_v4(ip);
                let earlier = IPV4_SPECIAL
                    .iter()
                    .take_while(|(_, _, n)| *n != name)
                    .any(|(m, l, _)| in_v4(ip, *m, *l));
                match class {
                    HostClass::ThisHost => assert!(ip.is_unspecified(), "{ip} in {name}"),
                    HostClass::Special(n) => assert!(n == name || earlier, "{ip} in {name}: {n}"),
                    HostClass::Public => panic!("{ip} in {name} is public"),
                }
            }
            let neighbours = [
                u32::from(first).checked_sub(1),
                u32::from(last).checked_add(1),
            ];
            for n in neighbours.into_iter().flatten().map(Ipv4Addr::from) {
                let listed = IPV4_SPECIAL.iter().any(|(m, l, _)| in_v4(n, *m, *l));
                if !listed && !n.is_loopback() {
                    assert_eq!(classify_v4(n), HostClass::Public, "{n} beside {name}");
                }
            }
        }
    }

    #[test]
    fn the_first_and_last_address_of_every_ipv6_range_are_special_and_its_global_neighbours_are_public(
    ) {
        for (net, len, name) in IPV6_SPECIAL {
            let (first, last) = (net, last_v6(net, len));
            for ip in [first, last] {
                let class = classify_v6(ip);
                let earlier = IPV6_SPECIAL
                    .iter()
                    .take_while(|(_, _, n)| *n != name)
                    .any(|(m, l, _)| in_v6(ip, *m, *l));
                // ::/8 holds ::, ::1 and the IPv4-compatible forms, classified apart.
                if embedded_ipv4(ip).is_none() && !ip.is_unspecified() {
                    match class {
                        HostClass::Special(n) => {
                            assert!(n == name || earlier, "{ip} in {name}: {n}")
                        }
                        other => panic!("{ip} in {name}: {other:?}"),
                    }
                }
            }
            let neighbours = [
                u128::from(first).checked_sub(1),
                u128::from(last).checked_add(1),
            ];
            for n in neighbours.into_iter().flatten().map(Ipv6Addr::from) {
                let listed = IPV6_SPECIAL.iter().any(|(m, l, _)| in_v6(n, *m, *l));
                let global = in_v6(n, GLOBAL_UNICAST.0, GLOBAL_UNICAST.1);
                if !listed && global && embedded_ipv4(n).is_none() {
                    assert_eq!(classify_v6(n), HostClass::Public, "{n} beside {name}");
                }
            }
        }
    }

    #[test]
    fn this_host_is_loopback_unspecified_and_localhost_in_any_spelling() {
        for raw in [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "[::1]",
            "[::]",
            "localhost",
            "LOCALHOST.",
            "LocalHost..",
            "api.localhost",
            "2130706433",
            "0x7f.1",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
            "[::127.0.0.1]",
            "[64:ff9b::7f00:1]",
            "[2002:7f00:1::]",
        ] {
            assert_eq!(host(raw), HostClass::ThisHost, "{raw}");
        }
    }

    #[test]
    fn an_ipv6_form_of_an_ipv4_address_is_classified_by_that_address() {
        for (raw, special) in [
            ("[::ffff:10.0.0.1]", true),
            ("[::ffff:a00:1]", true),
            ("[::ffff:100.64.0.1]", true),
            ("[64:ff9b::192.168.1.1]", true),
            ("[2002:c000:201::]", true),
            ("[::ffff:8.8.8.8]", false),
            ("[64:ff9b::808:808]", false),
            ("[2002:808:808::1]", false),
        ] {
            let class = host(raw);
            assert_eq!(
                matches!(class, HostClass::Special(_)),
                special,
                "{raw}: {class:?}"
            );
        }
    }

    #[test]
    fn special_use_and_single_label_names_are_special_and_public_names_and_addresses_are_public() {
        for raw in [
            "gateway",
            "pay.test",
            "pay.invalid",
            "router.local",
            "x.onion",
            "db.internal",
            "printer.home.arpa",
            "1.0.0.127.in-addr.arpa",
        ] {
            assert!(matches!(host(raw), HostClass::Special(_)), "{raw}");
        }
        for raw in [
            "pay.example.com",
            "pay.example.com.",
            "8.8.8.8",
            "1.1.1.1",
            "[2001:4860:4860::8888]",
            "[2400:cb00::1]",
        ] {
            assert_eq!(host(raw), HostClass::Public, "{raw}");
        }
    }
}
