//! Compile-time behaviour of the macros: every error they emit, with its span, and the odd inputs
//! that must keep compiling.
//!
//! rustc's diagnostics list the types that do implement a missing trait, and that list depends on
//! the enabled store features. The goldens are therefore recorded with every feature on, as the
//! README's test command (`cargo test --workspace --all-features`) builds, and the toolchain is
//! pinned (rust-toolchain.toml). Refresh them with
//! `TRYBUILD=overwrite cargo test -p dedup-runtime --all-features --test ui` and review the diff.

#[test]
#[cfg_attr(miri, ignore)]
#[cfg_attr(
    not(all(
        feature = "macros",
        feature = "memory",
        feature = "redis",
        feature = "postgres",
        feature = "sqlite",
        feature = "test-util"
    )),
    ignore = "the UI goldens are recorded with --all-features"
)]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/fingerprint/*.rs");
    t.compile_fail("tests/ui/fail/idempotent/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

/// `#[idempotent(tx = ...)]` in a build without the `postgres` feature, which the goldens above
/// cannot show: one error that names the feature. `.ci/run` runs it with the default features
/// (`cargo test -p dedup-runtime --no-default-features --features macros,memory --test ui`);
/// refresh with `TRYBUILD=overwrite` in front of that command.
#[test]
#[cfg_attr(miri, ignore)]
#[cfg(all(feature = "macros", feature = "memory", not(feature = "postgres")))]
fn ui_without_postgres() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/no-postgres/*.rs");
}
