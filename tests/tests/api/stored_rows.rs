//! Rows already stored are trusted when read back: a validation rule tightened after a row was
//! written must not turn that row into a 500. Each test plants values that today's rules reject
//! (as an older release, or an operator, could have written them) and reads them over HTTP.

use crate::common::TestApp;

crate::common::on_both_backends!(
    a_user_stored_under_older_rules_reads_back_as_stored,
    an_order_stored_under_older_rules_reads_back_as_stored
);

/// Longer than today's 100-character limit on display names.
fn long_name() -> String {
    "Ada ".repeat(30).trim_end().to_owned()
}

async fn a_user_stored_under_older_rules_reads_back_as_stored(app: TestApp) {
    let ada = app.create_user("ada@example.com").await;
    let admin = app.create_admin("root@example.com").await;
    // Two dots in a row and a name over the limit: both refused at the edge today.
    app.database
        .execute(&format!(
            "UPDATE users SET display_name = '{}'",
            long_name()
        ))
        .await;
    app.database
        .execute(
            "UPDATE users SET email = 'ada..lovelace@example.com' \
             WHERE email = 'ada@example.com'",
        )
        .await;

    let user = app
        .get_json_as(&ada, &format!("/v1/users/{}", ada.id))
        .await;
    assert_eq!(user["email"], "ada..lovelace@example.com");
    assert_eq!(user["display_name"], long_name());

    let listed = app.get_json_as(&admin, "/v1/users?limit=10").await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|u| u["display_name"] == long_name()));
}

async fn an_order_stored_under_older_rules_reads_back_as_stored(app: TestApp) {
    let ada = app.create_user("ada@example.com").await;
    let order = app.create_order(&ada).await;
    // A blank SKU and a lower-case currency code: both refused at the edge today.
    let sku = "   ";
    app.database
        .execute(&format!("UPDATE order_items SET sku = '{sku}'"))
        .await;
    app.database
        .execute("UPDATE orders SET currency = 'eur'")
        .await;

    let id = order["id"].as_str().unwrap();
    let read = app.get_json_as(&ada, &format!("/v1/orders/{id}")).await;
    assert_eq!(read["currency"], "eur");
    assert_eq!(read["items"][0]["sku"], sku);
    assert_eq!(read["items"][0]["quantity"], 2);

    let listed = app
        .get_json_as(&ada, &format!("/v1/users/{}/orders", ada.id))
        .await;
    assert_eq!(listed["items"][0]["items"][0]["sku"], sku);
}
