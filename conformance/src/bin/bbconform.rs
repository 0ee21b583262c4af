//! `bbconform`: checks a CRM's BlueBeanClient web integration (popup request,
//! detail view, links) the way the `bbclient` softphone uses it. See
//! `docs/bbconform.md` and [`conformance::conform`].

fn main() -> std::process::ExitCode {
    conformance::conform::main()
}
