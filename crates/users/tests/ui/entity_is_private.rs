// Other crates work through `users::Users`; the SeaORM entity behind it is not theirs to use.
use users::entity::Model;

fn main() {
    let _ = std::mem::size_of::<Model>();
}
