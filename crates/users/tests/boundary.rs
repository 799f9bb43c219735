//! The crate boundary is enforced by the compiler: the table behind `Users` cannot be named
//! from outside the crate.

#[test]
fn the_users_table_is_private_to_the_crate() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
