//! Compile-time behaviour of the macros: every error they emit, with its span, and the odd inputs
//! that must keep compiling. The toolchain is pinned (rust-toolchain.toml), so the `.stderr`
//! goldens are exact; refresh them with `TRYBUILD=overwrite cargo test -p dedup-runtime --test ui`
//! and review the diff.

#[test]
#[cfg_attr(miri, ignore)]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/fingerprint/*.rs");
    t.compile_fail("tests/ui/fail/idempotent/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
