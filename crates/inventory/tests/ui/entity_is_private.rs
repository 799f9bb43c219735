// Other crates work through `inventory::Inventory`; the SeaORM entities behind it are not theirs.
use inventory::entity::stock::Model;

fn main() {
    let _ = std::mem::size_of::<Model>();
}
