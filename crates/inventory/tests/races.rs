//! The inventory as its callers use it, on both engines, under concurrency: reservations over
//! two skus in both line orders, releases, sales and adjustments of the same rows at once.
//! Every step either applies or is refused with its own error (never a storage failure, such
//! as a broken `reserved <= on_hand` check or a deadlock), and at the end what is reserved is
//! exactly what the holders still hold.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::num::NonZeroU32;

use inventory::{Delta, Holder, Inventory, InventoryError, Reason, Sku, StockLine};
use persistence::Backend;
use persistence::testing::TestDatabase;

persistence::both_backends!(reservations_racing_releases_sales_and_adjustments_never_oversell);

const SKUS: [&str; 2] = ["RACE-A", "RACE-B"];
const WORKERS: usize = 8;
const STEPS: usize = 600;

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).unwrap()
}

fn line(raw: &str, quantity: u32) -> StockLine {
    StockLine {
        sku: sku(raw),
        quantity: NonZeroU32::new(quantity).unwrap(),
    }
}

/// What a worker still holds at the end: holder and units per sku.
type Held = Vec<(Holder, [i64; 2])>;

async fn reservations_racing_releases_sales_and_adjustments_never_oversell(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let runner = migration::Runner::lock(test.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
    let inventory = Inventory::new(test.db().clone(), persistence::testing::outbox());
    let restock = Reason::parse("restock").unwrap();
    for raw in SKUS {
        let tx = test.db().begin().await.unwrap();
        inventory.track_in(&tx, &sku(raw)).await.unwrap();
        tx.commit().await.unwrap();
        // Few units: most reservations meet a concurrent change of the rows they want.
        let delta = Delta::new(6).unwrap();
        inventory
            .adjust(&sku(raw), delta, restock.clone(), None)
            .await
            .unwrap();
    }

    let workers = (0..WORKERS).map(|worker| {
        let inventory = inventory.clone();
        let db = test.db().clone();
        tokio::spawn(async move {
            let mut held: Held = Vec::new();
            for step in 0..STEPS {
                match (worker + step) % 5 {
                    0 | 1 => {
                        // Both line orders, and sometimes more than the stock can give.
                        let (a, b) = (1 + (step % 2) as u32, 1 + (worker % 3) as u32);
                        let lines = if worker % 2 == 0 {
                            [line(SKUS[0], a), line(SKUS[1], b)]
                        } else {
                            [line(SKUS[1], b), line(SKUS[0], a)]
                        };
                        let holder = Holder::from_uuid(persistence::new_id());
                        let tx = db.begin().await.unwrap();
                        match inventory.reserve_in(&tx, holder, &lines).await {
                            Ok(()) => held.push((holder, [a.into(), b.into()])),
                            Err(InventoryError::InsufficientStock(short)) => {
                                assert!(!short.is_empty());
                            }
                            Err(err) => panic!("reserve: {err:?}"),
                        }
                        // Committed even when refused: a refusal must have written nothing.
                        tx.commit().await.unwrap();
                    }
                    2 | 3 => {
                        let Some((holder, _)) = held.pop() else {
                            continue;
                        };
                        let tx = db.begin().await.unwrap();
                        if step % 2 == 0 {
                            inventory.release_in(&tx, &[holder]).await.unwrap();
                        } else {
                            inventory.sell_in(&tx, holder).await.unwrap();
                        }
                        tx.commit().await.unwrap();
                    }
                    _ => {
                        let delta = Delta::new(if step % 2 == 0 { 2 } else { -2 }).unwrap();
                        let reason = Reason::parse("count").unwrap();
                        match inventory.adjust(&sku(SKUS[0]), delta, reason, None).await {
                            Ok(_) | Err(InventoryError::BelowReserved { .. }) => {}
                            Err(err) => panic!("adjust: {err:?}"),
                        }
                    }
                }
            }
            held
        })
    });
    let mut expected: HashMap<&str, i64> = SKUS.iter().map(|&raw| (raw, 0)).collect();
    for worker in futures::future::join_all(workers).await {
        for (_, units) in worker.unwrap() {
            for (raw, n) in SKUS.iter().zip(units) {
                *expected.get_mut(raw).unwrap() += n;
            }
        }
    }
    for raw in SKUS {
        let stock = inventory.get(&sku(raw)).await.unwrap();
        assert_eq!(stock.reserved, expected[raw], "{raw}: {stock:?}");
        assert!(stock.reserved <= stock.on_hand, "{raw}: {stock:?}");
    }
}
