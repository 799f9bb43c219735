// Other crates work through `orders::Orders`; the SeaORM entities behind it are not theirs to use.
use orders::entity::orders::Model;

fn main() {
    let _ = std::mem::size_of::<Model>();
}
