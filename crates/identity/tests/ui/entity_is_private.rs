// Other crates work through `identity::Identity`; the SeaORM entities behind it are not theirs.
use identity::entity::sessions::Model;

fn main() {
    let _ = std::mem::size_of::<Model>();
}
