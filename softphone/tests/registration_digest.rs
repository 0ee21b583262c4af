//! Registration with each digest algorithm a BlueBean server may challenge
//! with (MD5, and SHA-256 as RFC 7616/8760 spell it), against the real
//! `bluebean-sim` with a tenant that offers only that algorithm.

mod common;
mod operator_sim;

use common::{Phone, scratch};
use operator_sim::{Sim, settings};

/// The built-in tenant with `[sip] auth_algorithms` set to `algorithms`.
fn tenant_offering(dir: &std::path::Path, algorithms: &str) -> std::path::PathBuf {
    let out = std::process::Command::new(operator_sim::sim_bin())
        .arg("--print-default-config")
        .output()
        .expect("bluebean-sim prints its default tenant");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("the tenant is UTF-8");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("auth_algorithms"))
        .expect("the default tenant names its auth_algorithms");
    let tenant = text.replacen(line, &format!("auth_algorithms = {algorithms}"), 1);
    let path = dir.join("tenant.toml");
    std::fs::write(&path, tenant).expect("tenant file is writable");
    path
}

fn registers_with(algorithms: &str, name: &str) {
    let dir = scratch(name);
    let tenant = tenant_offering(&dir, algorithms);
    let sim = Sim::start_with(&["--config".as_ref(), tenant.as_os_str()]);
    let mut phone = Phone::start(&dir, name, &settings(&sim, "1910", ""));
    phone.proc.expect_line("registered as 1910", 20);
    let regs = sim.get("/api/registrations").to_string();
    assert!(regs.contains("1910"), "the simulator lists 1910: {regs}");
}

#[test]
fn registers_when_the_server_offers_only_sha_256_as_rfc_7616_spells_it() {
    registers_with(r#"["SHA-256"]"#, "digest-sha256");
}

#[test]
fn registers_when_the_server_offers_only_md5() {
    registers_with(r#"["MD5"]"#, "digest-md5");
}
