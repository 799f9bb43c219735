//! The orders context's domain types.

mod order;
mod values;

pub use order::*;
pub use values::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrdersError;
    use uuid::Uuid;

    fn customer() -> CustomerId {
        CustomerId::from_uuid(Uuid::now_v7())
    }

    fn item(sku: &str, quantity: i64, unit_price_cents: i64) -> NewOrderItem {
        NewOrderItem {
            sku: sku.to_owned(),
            quantity,
            unit_price_cents,
        }
    }

    fn invalid_field(result: Result<NewOrder, OrdersError>) -> (String, &'static str) {
        match result {
            Err(OrdersError::Invalid { field, reason }) => (field, reason),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn transition_table_is_exactly_the_lifecycle() {
        use OrderStatus::{Cancelled, Paid, Pending, Shipped};
        let legal = [
            (Pending, Paid),
            (Paid, Shipped),
            (Pending, Cancelled),
            (Paid, Cancelled),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                match from.transition_to(to) {
                    Ok(next) => {
                        assert!(expected, "{from} -> {to} should be illegal");
                        assert_eq!(next, to);
                    }
                    Err(OrdersError::IllegalTransition { from: f, to: t }) => {
                        assert!(!expected, "{from} -> {to} should be legal");
                        assert_eq!((f, t), (from, to));
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
        }
    }

    #[test]
    fn update_guards_follow_the_table() {
        use OrderStatus::{Cancelled, Paid, Pending, Shipped};
        assert_eq!(OrderStatus::sources_of(Paid), vec![Pending]);
        assert_eq!(OrderStatus::sources_of(Shipped), vec![Paid]);
        assert_eq!(OrderStatus::sources_of(Cancelled), vec![Pending, Paid]);
        assert!(OrderStatus::sources_of(Pending).is_empty());
    }

    #[test]
    fn status_spelling_round_trips() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_stored(status.as_str()).unwrap(), status);
        }
        assert!(OrderStatus::from_stored("PAID").is_err());
    }

    #[test]
    fn currency_must_be_three_upper_case_ascii_letters() {
        assert_eq!(Currency::parse("USD").unwrap().as_str(), "USD");
        for raw in ["usd", "US", "USDX", "", "U5D", "ÜSD", " USD", "USD "] {
            match Currency::parse(raw) {
                Err(OrdersError::Invalid { field, .. }) => assert_eq!(field, "currency"),
                other => panic!("{raw:?} should be invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn sku_rules() {
        assert_eq!(Sku::parse("A-1").unwrap().as_str(), "A-1");
        assert_eq!(Sku::parse(" padded ").unwrap().as_str(), " padded ");
        assert!(Sku::parse(&"é".repeat(64)).is_ok());
        for raw in [
            String::new(),
            "   ".to_owned(),
            "a\tb".to_owned(),
            "x".repeat(65),
            "A\u{200B}1".to_owned(),
            "A-1\u{202E}".to_owned(),
            "\u{2067}A-1".to_owned(),
            "\u{FEFF}A-1".to_owned(),
            "\u{3164}".to_owned(),
        ] {
            match Sku::parse(&raw) {
                Err(OrdersError::Invalid { field, .. }) => assert_eq!(field, "sku", "{raw:?}"),
                other => panic!("{raw:?} should be invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn idempotency_key_rules() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("~!@#$%^&*()_+").is_ok());
        for raw in [
            String::new(),
            "k".repeat(256),
            "a b".to_owned(),
            "é".to_owned(),
        ] {
            match IdempotencyKey::parse(&raw) {
                Err(OrdersError::Invalid { field, .. }) => assert_eq!(field, "idempotency_key"),
                other => panic!("{raw:?} should be invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn new_order_computes_the_total() {
        let order = NewOrder::new(
            customer(),
            "EUR",
            vec![item("A", 2, 150), item("B", 1, 1000), item("C", 3, 0)],
        )
        .unwrap();
        assert_eq!(order.total().cents(), 1300);
        assert_eq!(order.items().len(), 3);
        assert_eq!(order.items()[1].sku.as_str(), "B");
    }

    #[test]
    fn new_order_errors_name_the_field_and_line() {
        let c = customer();
        assert_eq!(invalid_field(NewOrder::new(c, "EUR", vec![])).0, "items");
        assert_eq!(
            invalid_field(NewOrder::new(c, "eur", vec![item("A", 1, 1)])).0,
            "currency"
        );
        let lines = vec![item("A", 1, 1), item("B", 1, 1), item("C", 0, 1)];
        assert_eq!(
            invalid_field(NewOrder::new(c, "EUR", lines)).0,
            "items[2].quantity"
        );
        let lines = vec![item("A", 1, -1)];
        assert_eq!(
            invalid_field(NewOrder::new(c, "EUR", lines)).0,
            "items[0].unit_price_cents"
        );
        let lines = vec![item("A", 1, 1), item("", 1, 1)];
        assert_eq!(
            invalid_field(NewOrder::new(c, "EUR", lines)).0,
            "items[1].sku"
        );
        let lines = vec![item("A", -3, 1)];
        assert_eq!(
            invalid_field(NewOrder::new(c, "EUR", lines)).0,
            "items[0].quantity"
        );
        for sku in ["   ".to_owned(), "x".repeat(65)] {
            let lines = vec![item(&sku, 1, 1)];
            assert_eq!(
                invalid_field(NewOrder::new(c, "EUR", lines)).0,
                "items[0].sku"
            );
        }
        for currency in ["US", "USDX"] {
            let lines = vec![item("A", 1, 1)];
            assert_eq!(
                invalid_field(NewOrder::new(c, currency, lines)).0,
                "currency"
            );
        }
        let lines = vec![item("A", 1, 1); NewOrder::MAX_ITEMS + 1];
        assert_eq!(invalid_field(NewOrder::new(c, "EUR", lines)).0, "items");
        assert!(NewOrder::new(c, "EUR", vec![item("A", 1, 1); NewOrder::MAX_ITEMS]).is_ok());
    }

    #[test]
    fn total_overflow_is_an_error_not_a_wrap() {
        let c = customer();
        // A single line whose product overflows.
        let (field, reason) = invalid_field(NewOrder::new(c, "EUR", vec![item("A", 2, i64::MAX)]));
        assert_eq!((field.as_str(), reason), ("items", "total overflows"));
        // Lines that fit alone but not summed.
        let lines = vec![item("A", 1, i64::MAX), item("B", 1, 1)];
        assert_eq!(
            invalid_field(NewOrder::new(c, "EUR", lines)).1,
            "total overflows"
        );
        // Exactly i64::MAX is fine.
        let order = NewOrder::new(c, "EUR", vec![item("A", 1, i64::MAX)]).unwrap();
        assert_eq!(order.total().cents(), i64::MAX);
    }

    #[test]
    fn fingerprint_depends_on_every_part_of_the_request() {
        let c = customer();
        let base = NewOrder::new(c, "EUR", vec![item("A", 1, 100), item("B", 2, 5)]).unwrap();
        let same = NewOrder::new(c, "EUR", vec![item("A", 1, 100), item("B", 2, 5)]).unwrap();
        assert_eq!(base.request_hash(), same.request_hash());
        assert_eq!(base.request_hash().len(), 64);
        let variants = [
            NewOrder::new(customer(), "EUR", vec![item("A", 1, 100), item("B", 2, 5)]),
            NewOrder::new(c, "USD", vec![item("A", 1, 100), item("B", 2, 5)]),
            NewOrder::new(c, "EUR", vec![item("B", 2, 5), item("A", 1, 100)]),
            NewOrder::new(c, "EUR", vec![item("A", 1, 100), item("B", 2, 6)]),
            NewOrder::new(c, "EUR", vec![item("A", 1, 100), item("B", 3, 5)]),
            NewOrder::new(c, "EUR", vec![item("A", 1, 100)]),
            // A separator inside a SKU cannot forge another request's encoding.
            NewOrder::new(c, "EUR", vec![item("A:1|100", 1, 100)]),
        ];
        for variant in variants {
            assert_ne!(base.request_hash(), variant.unwrap().request_hash());
        }
    }
}
