//! The crate boundary is enforced by the compiler: the tables behind `Catalog` cannot be named
//! from outside the crate.

#[test]
fn the_catalog_tables_are_private_to_the_crate() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
