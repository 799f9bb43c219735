//! Keyset pagination: registration order, stable pages, cursors that survive deletions.

use std::collections::HashSet;

use persistence::{Backend, Cursor, Limit, PageRequest};
use users::{User, UserId, Users};

use crate::common::{delete_row, register_many, setup};

persistence::both_backends!(
    an_empty_table_lists_one_empty_last_page,
    default_order_is_registration_order,
    pages_of_ten_cover_twenty_five_users_exactly_once,
    a_page_that_ends_the_list_exactly_has_no_next,
    a_cursor_on_a_deleted_user_still_resumes_after_it,
    a_cursor_on_a_key_that_never_existed_resumes_after_it,
);

fn ids(users: &[User]) -> Vec<UserId> {
    users.iter().map(|u| u.id).collect()
}

/// Walks the whole list with `limit` and returns each page's items.
async fn all_pages(users: &Users, limit: i64) -> Vec<Vec<User>> {
    let limit = Limit::new(limit).unwrap();
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = users.list(PageRequest { limit, after }).await.unwrap();
        pages.push(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return pages,
        }
        assert!(pages.len() <= 100, "pagination does not terminate");
    }
}

async fn an_empty_table_lists_one_empty_last_page(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    let page = users.list(PageRequest::default()).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.next, None);
}

async fn default_order_is_registration_order(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    let registered = register_many(&users, 7).await;
    let page = users.list(PageRequest::default()).await.unwrap();
    assert_eq!(
        page.items, registered,
        "same users, same order, same values"
    );
    assert_eq!(page.next, None);
}

async fn pages_of_ten_cover_twenty_five_users_exactly_once(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    let registered = register_many(&users, 25).await;

    let pages = all_pages(&users, 10).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);

    let listed: Vec<UserId> = pages.iter().flat_map(|page| ids(page)).collect();
    assert_eq!(
        listed,
        ids(&registered),
        "the union is every user, in order"
    );
    let distinct: HashSet<UserId> = listed.iter().copied().collect();
    assert_eq!(distinct.len(), listed.len(), "no user appears twice");

    // The cursor handed out is an opaque token that decodes back to the same position.
    let first = users
        .list(PageRequest {
            limit: Limit::new(10).unwrap(),
            after: None,
        })
        .await
        .unwrap();
    let next = first.next.unwrap();
    assert_eq!(next.key(), registered[9].id.as_uuid());
    let resumed = users
        .list(PageRequest {
            limit: Limit::new(10).unwrap(),
            after: Some(Cursor::decode(&next.encode()).unwrap()),
        })
        .await
        .unwrap();
    assert_eq!(ids(&resumed.items), ids(&registered[10..20]));
}

async fn a_page_that_ends_the_list_exactly_has_no_next(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    let registered = register_many(&users, 20).await;
    let pages = all_pages(&users, 10).await;
    // No trailing empty page: the overfetched row tells there is nothing after the second page.
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10]);
    let listed: Vec<UserId> = pages.iter().flat_map(|page| ids(page)).collect();
    assert_eq!(listed, ids(&registered));
}

async fn a_cursor_on_a_deleted_user_still_resumes_after_it(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let registered = register_many(&users, 6).await;
    let limit = Limit::new(3).unwrap();
    let first = users
        .list(PageRequest { limit, after: None })
        .await
        .unwrap();
    let cursor = first.next.unwrap();
    assert_eq!(cursor.key(), registered[2].id.as_uuid());

    // The row the cursor points at disappears between two page requests.
    delete_row(test.db(), registered[2].id).await;

    let second = users
        .list(PageRequest {
            limit,
            after: Some(cursor),
        })
        .await
        .unwrap();
    assert_eq!(second.items, registered[3..]);
    assert_eq!(second.next, None);
}

async fn a_cursor_on_a_key_that_never_existed_resumes_after_it(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    let early = register_many(&users, 3).await;
    // A valid key that belongs to no row, ordered between the two batches (UUID v7 is
    // time-ordered, and `now_v7` is monotonic within a process).
    let between = uuid::Uuid::now_v7();
    let mut late = Vec::new();
    for i in 0..4 {
        late.push(
            users
                .register(crate::common::new_user(
                    &format!("late{i}@example.com"),
                    "Late",
                ))
                .await
                .unwrap(),
        );
    }
    let limit = Limit::new(10).unwrap();
    let page = users
        .list(PageRequest {
            limit,
            after: Some(Cursor::after_key(between)),
        })
        .await
        .unwrap();
    assert_eq!(page.items, late);
    assert_eq!(page.next, None);

    // The extremes: before everything, and after everything.
    let from_nil = users
        .list(PageRequest {
            limit,
            after: Some(Cursor::after_key(uuid::Uuid::nil())),
        })
        .await
        .unwrap();
    assert_eq!(ids(&from_nil.items), [ids(&early), ids(&late)].concat());
    let from_max = users
        .list(PageRequest {
            limit,
            after: Some(Cursor::after_key(uuid::Uuid::max())),
        })
        .await
        .unwrap();
    assert!(from_max.items.is_empty());
    assert_eq!(from_max.next, None);
}
