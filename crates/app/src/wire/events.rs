//! The integration-event feed on the wire: CloudEvents 1.0 structured-mode envelopes, exactly
//! as the NATS relay publishes them (`persistence::outbox::CloudEvent`), documented here.

use chrono::{DateTime, Utc};
use persistence::outbox::Event;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One committed change, as a CloudEvents 1.0 envelope.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "specversion": "1.0",
    "id": "01937a0e-8b1c-7c3e-9f4a-2d5e6f708192",
    "source": "orders-backend",
    "type": "order.placed",
    "subject": "01937a0e-8b1a-7d2e-8f3a-1c4d5e6f7081",
    "time": "2026-11-26T09:30:00.123456Z",
    "datacontenttype": "application/json",
    "data": {"id": "01937a0e-8b1a-7d2e-8f3a-1c4d5e6f7081", "status": "pending"}
}))]
pub(crate) struct EventBody {
    /// Always `1.0`.
    specversion: String,
    /// Unique per event (UUID v7); also the `Nats-Msg-Id` on NATS.
    id: Uuid,
    /// Always `orders-backend`.
    source: String,
    /// `user.registered`, `user.deactivated`, `order.placed`, `order.paid`, `order.shipped`
    /// or `order.cancelled`.
    #[serde(rename = "type")]
    event_type: String,
    /// The id of the user or order that changed.
    subject: String,
    /// When the change happened (UTC).
    time: DateTime<Utc>,
    /// Always `application/json`.
    datacontenttype: String,
    /// The user or order as it was after the change, as `GET` returns it.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

impl From<Event> for EventBody {
    fn from(event: Event) -> Self {
        let envelope = event.to_cloudevent();
        Self {
            specversion: envelope.specversion,
            id: envelope.id,
            source: envelope.source,
            event_type: envelope.event_type,
            subject: envelope.subject,
            time: envelope.time,
            datacontenttype: envelope.datacontenttype,
            data: envelope.data,
        }
    }
}

/// A page of the feed, in commit order.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventPage {
    /// Up to `limit` events.
    pub(crate) items: Vec<EventBody>,
    /// Where to resume: pass as `after` to get what committed since. Unlike other lists it is
    /// set on the last page too (a feed has no end); `null` only while the feed is empty and no
    /// cursor was given. Valid only for this list.
    pub(crate) next: Option<String>,
}
