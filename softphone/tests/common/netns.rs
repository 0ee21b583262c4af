//! A real NAT for the tests, built in network namespaces: the internet (one
//! host, `wan`, 198.51.100.2), a router that masquerades (198.51.100.1
//! outside), and hosts behind it, each on a subnet of its own
//! (192.168.16.2, 192.168.17.2, …). Its UDP bindings expire after
//! [`NAT_TIMEOUT_S`] without traffic (`nf_conntrack_udp_timeout` and
//! `_stream`, set in the router's namespace only), and it picks a random
//! outside port for each binding (`MASQUERADE --random-fully`, as carrier
//! NATs do), so a phone that names its own port or address is caught.
//! Nothing outside the namespaces changes; they are deleted on drop.
//!
//! Needs root (`ip netns`, iptables): without it the test is skipped
//! outside CI and fails under `CI=true` (bb-testenv's rule).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// How long the router keeps an idle UDP binding, seconds.
pub const NAT_TIMEOUT_S: u64 = 20;
/// The router's outside address (the phones' public address).
pub const PUBLIC_IP: &str = "198.51.100.1";
/// The host on the internet (the simulator, outside phones).
pub const WAN_IP: &str = "198.51.100.2";

/// The address of the `i`th host behind the NAT.
pub fn lan_ip(i: usize) -> String {
    format!("192.168.{}.2", 16 + i)
}

/// A NAT and the hosts around it; deleted on drop.
pub struct Nat {
    tag: String,
    made: Vec<String>,
    lans: usize,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn run(what: &str, cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

fn ip(args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(args);
    c
}

impl Nat {
    /// Builds the internet, the router and `lans` hosts behind it; `None`
    /// after skipping the test where namespaces cannot be made (not root).
    pub fn build(lans: usize) -> Option<Nat> {
        bb_testenv::require_program("ip", "iproute2");
        bb_testenv::require_program("iptables", "iptables");
        let tag = format!(
            "bbnat{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut nat = Nat {
            tag,
            made: Vec::new(),
            lans,
        };
        // The first namespace tells whether we may make them at all.
        let probe = ip(&["netns", "add", &nat.wan()]).output();
        match probe {
            Ok(o) if o.status.success() => nat.made.push(nat.wan()),
            Ok(o) => {
                bb_testenv::skip(&format!(
                    "cannot make a network namespace for the NAT (needs root): ip netns add: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                return None;
            }
            Err(e) => {
                bb_testenv::skip(&format!("cannot run ip netns add: {e}"));
                return None;
            }
        }
        let (wan, rtr) = (nat.wan(), nat.router());
        run("ip netns add", &mut ip(&["netns", "add", &rtr]));
        nat.made.push(rtr.clone());
        // wan <-> router.
        run(
            "ip link add (wan)",
            &mut ip(&[
                "link", "add", "eth0", "netns", &wan, "type", "veth", "peer", "name", "wan",
                "netns", &rtr,
            ]),
        );
        nat.addr(&wan, "eth0", &format!("{WAN_IP}/24"));
        nat.addr(&rtr, "wan", &format!("{PUBLIC_IP}/24"));
        for i in 0..lans {
            let host = nat.lan(i);
            run("ip netns add", &mut ip(&["netns", "add", &host]));
            nat.made.push(host.clone());
            let inside = format!("lan{i}");
            run(
                "ip link add (lan)",
                &mut ip(&[
                    "link", "add", "eth0", "netns", &host, "type", "veth", "peer", "name", &inside,
                    "netns", &rtr,
                ]),
            );
            nat.addr(&host, "eth0", &format!("{}/24", lan_ip(i)));
            nat.addr(&rtr, &inside, &format!("192.168.{}.1/24", 16 + i));
            run(
                "ip route add default",
                &mut ip(&[
                    "-n",
                    &host,
                    "route",
                    "add",
                    "default",
                    "via",
                    &format!("192.168.{}.1", 16 + i),
                ]),
            );
        }
        for ns in [&wan, &rtr] {
            run(
                "ip link set lo up",
                &mut ip(&["-n", ns, "link", "set", "lo", "up"]),
            );
        }
        // The router: forward, masquerade with random ports, let in only
        // what answers a binding made from inside.
        let ipt = |args: &[&str]| {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &rtr, "iptables"]).args(args);
            run(&format!("iptables {}", args.join(" ")), &mut c);
        };
        ipt(&[
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "wan",
            "-j",
            "MASQUERADE",
            "--random-fully",
        ]);
        ipt(&["-P", "FORWARD", "DROP"]);
        ipt(&[
            "-A",
            "FORWARD",
            "-i",
            "wan",
            "-m",
            "conntrack",
            "--ctstate",
            "ESTABLISHED,RELATED",
            "-j",
            "ACCEPT",
        ]);
        ipt(&[
            "-A", "FORWARD", "!", "-i", "wan", "-o", "wan", "-j", "ACCEPT",
        ]);
        // Conntrack's settings exist in the namespace once its rules do.
        nat.sysctl("net/ipv4/ip_forward", "1");
        let t = NAT_TIMEOUT_S.to_string();
        nat.sysctl("net/netfilter/nf_conntrack_udp_timeout", &t);
        nat.sysctl("net/netfilter/nf_conntrack_udp_timeout_stream", &t);
        Some(nat)
    }

    fn addr(&self, ns: &str, dev: &str, cidr: &str) {
        run(
            "ip addr add",
            &mut ip(&["-n", ns, "addr", "add", cidr, "dev", dev]),
        );
        run(
            "ip link set up",
            &mut ip(&["-n", ns, "link", "set", dev, "up"]),
        );
    }

    fn sysctl(&self, key: &str, value: &str) {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.router(), "sh", "-c"])
            .arg(format!("echo {value} > /proc/sys/{key}"));
        run(&format!("setting {key} in the router"), &mut c);
    }

    /// The internet's namespace.
    pub fn wan(&self) -> String {
        format!("{}-wan", self.tag)
    }

    /// The router's namespace.
    pub fn router(&self) -> String {
        format!("{}-rtr", self.tag)
    }

    /// The namespace of the `i`th host behind the NAT.
    pub fn lan(&self, i: usize) -> String {
        assert!(i < self.lans, "the NAT has {} hosts behind it", self.lans);
        format!("{}-lan{i}", self.tag)
    }

    /// `program` run inside namespace `ns`.
    pub fn command(&self, ns: &str, program: impl Into<PathBuf>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program.into());
        c
    }

    /// The router's UDP bindings now (conntrack's table), for messages.
    pub fn bindings(&self) -> String {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &self.router(),
            "cat",
            "/proc/net/nf_conntrack",
        ]);
        c.output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Nat {
    fn drop(&mut self) {
        for ns in self.made.iter().rev() {
            let _ = ip(&["netns", "del", ns]).output();
        }
    }
}
