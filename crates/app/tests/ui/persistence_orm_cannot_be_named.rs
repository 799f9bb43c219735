// Nor can the HTTP layer bring the accessor trait into scope: it does not depend on the crate.
use persistence_orm::Orm;

fn sneak_a_query(db: &persistence::Db) {
    let _pool = db.orm();
}

fn main() {}
