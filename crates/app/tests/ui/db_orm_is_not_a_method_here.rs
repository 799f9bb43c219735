// Holding a `Db` is not enough to reach the SeaORM pool behind it.
fn sneak_a_query(db: &persistence::Db) {
    let _pool = db.orm();
}

fn main() {}
