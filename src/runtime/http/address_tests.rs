//! The address classification and CIDR matching behind `allowed_networks`.

use std::net::IpAddr;

use super::address::{check, non_public, IpNetwork, NetworkError};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn net(text: &str) -> IpNetwork {
    text.parse().unwrap()
}

#[test]
fn ssrf_targets_are_not_public() {
    for (addr, class) in [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "\"this network\""),
        ("100.64.0.1", "shared address space (CGNAT)"),
        ("100.127.255.255", "shared address space (CGNAT)"),
        ("192.0.0.8", "IETF protocol assignments"),
        ("192.0.2.10", "documentation"),
        ("198.51.100.1", "documentation"),
        ("203.0.113.99", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.255", "benchmarking"),
        ("224.0.0.251", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "reserved or broadcast"),
        ("240.0.0.1", "reserved or broadcast"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("fc00::1", "unique local (private)"),
        ("fd12:3456::1", "unique local (private)"),
        ("ff02::1", "multicast"),
        ("fec0::1", "reserved"),
        ("100::1", "reserved"),
        ("64:ff9b:1::a", "reserved"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("2001::1", "IETF protocol assignments"),
    ] {
        assert_eq!(non_public(ip(addr)), Some(class), "{addr}");
    }
}

#[test]
fn ipv6_forms_carrying_an_ipv4_address_are_judged_by_it() {
    for (addr, class) in [
        ("::ffff:127.0.0.1", Some("loopback")),
        ("::ffff:169.254.169.254", Some("link-local")),
        ("::ffff:10.1.2.3", Some("private")),
        ("::127.0.0.1", Some("loopback")),
        ("64:ff9b::a9fe:a9fe", Some("link-local")),
        ("64:ff9b::192.168.0.1", Some("private")),
        ("2002:7f00:1::1", Some("loopback")),
        ("2002:c0a8:0101::", Some("private")),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::8.8.8.8", None),
        ("2002:0808:0808::1", None),
    ] {
        assert_eq!(non_public(ip(addr)), class, "{addr}");
    }
}

#[test]
fn public_unicast_is_public() {
    for addr in [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "172.15.255.255",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "169.253.255.255",
        "192.0.3.1",
        "198.17.255.255",
        "223.255.255.255",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
        "2001:4860:4860::8888",
    ] {
        assert_eq!(non_public(ip(addr)), None, "{addr}");
    }
}

#[test]
fn networks_parse_strictly() {
    assert_eq!(net("10.1.0.0/16").to_string(), "10.1.0.0/16");
    assert_eq!(net("127.0.0.1").to_string(), "127.0.0.1/32");
    assert_eq!(net("fd00::/8").to_string(), "fd00::/8");
    assert_eq!(net("::1").to_string(), "::1/128");
    assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
    assert_eq!(
        "10.1.2.3/16".parse::<IpNetwork>().unwrap_err().to_string(),
        "10.1.2.3/16 has bits set past its prefix (did you mean 10.1.0.0/16?)"
    );
    assert!(matches!("10.0.0.0/33".parse::<IpNetwork>(), Err(NetworkError::Prefix { prefix: 33, max: 32 })));
    assert!(matches!("fd00::/129".parse::<IpNetwork>(), Err(NetworkError::Prefix { .. })));
    for bad in ["", "10.0.0.0/", "/8", "example.com/8", "10.0.0.0/x", "10.0.0/8", "10.0.0.0/8/8", " 10.0.0.0/8"] {
        assert!(matches!(bad.parse::<IpNetwork>(), Err(NetworkError::Syntax(_))), "{bad:?}");
    }
}

#[test]
fn networks_contain_their_addresses_only() {
    let ten = net("10.1.0.0/16");
    assert!(ten.contains(ip("10.1.0.0")) && ten.contains(ip("10.1.255.255")));
    assert!(!ten.contains(ip("10.2.0.0")) && !ten.contains(ip("10.0.255.255")));
    assert!(ten.contains(ip("::ffff:10.1.2.3")), "a mapped address is its IPv4 address");
    assert!(!ten.contains(ip("::a01:203")), "a compatible address is not mapped");
    let all4 = net("0.0.0.0/0");
    assert!(all4.contains(ip("127.0.0.1")) && !all4.contains(ip("::1")));
    let ula = net("fd00::/8");
    assert!(ula.contains(ip("fd12::1")) && !ula.contains(ip("fc00::1")) && !ula.contains(ip("10.0.0.1")));
    assert!(net("::/0").contains(ip("fe80::1")));
    assert!(net("192.168.1.7").contains(ip("192.168.1.7")) && !net("192.168.1.7").contains(ip("192.168.1.8")));
}

#[test]
fn listed_networks_lift_the_block_for_their_addresses_only() {
    let allowed = [net("127.0.0.0/8"), net("10.1.0.0/16")];
    assert_eq!(check(ip("127.0.0.1"), &allowed), Ok(()));
    assert_eq!(check(ip("10.1.9.9"), &allowed), Ok(()));
    assert_eq!(check(ip("10.2.0.1"), &allowed), Err("private"));
    assert_eq!(check(ip("169.254.169.254"), &allowed), Err("link-local"));
    assert_eq!(check(ip("::1"), &allowed), Err("loopback"), "127.0.0.0/8 does not cover ::1");
    assert_eq!(check(ip("8.8.8.8"), &[]), Ok(()));
    assert_eq!(check(ip("127.0.0.1"), &[]), Err("loopback"));
}
