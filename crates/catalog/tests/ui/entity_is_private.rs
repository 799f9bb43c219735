// Other crates work through `catalog::Catalog`; the SeaORM entities behind it are not theirs.
use catalog::entity::Model;

fn main() {
    let _ = std::mem::size_of::<Model>();
}
