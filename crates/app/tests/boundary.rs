//! The HTTP layer cannot run a query of its own: the SeaORM connection behind `persistence::Db`
//! is reached only through `persistence_orm::Orm`, and this crate cannot name that crate.

#[test]
fn the_orm_connection_is_out_of_reach() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
