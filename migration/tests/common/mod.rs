//! What the migration tests share.

use migration::Runner;
use persistence::testing::TestDatabase;

/// A runner holding `test`'s migration lock, with every migration before `name` applied and
/// none after: the database as it was just before `name` shipped.
pub async fn migrated_up_to_before(test: &TestDatabase, name: &str) -> Runner {
    let runner = Runner::lock(test.url()).await.unwrap();
    let names: Vec<String> = runner
        .status()
        .await
        .unwrap()
        .into_iter()
        .map(|state| state.name)
        .collect();
    let before = names.iter().position(|n| n == name).unwrap();
    runner
        .up(Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();
    runner
}
