//! The wire format: every request and response body of the HTTP API, with its JSON field names,
//! its documentation (utoipa `ToSchema`) and its conversion to or from the contexts' domain types.
//!
//! The contexts know nothing of JSON; this module is where a `users::User` becomes
//! `{"id","email",…}` and where `{"currency","items"}` becomes an `orders::NewOrder`, so a field
//! can be renamed on the wire without touching a context, and vice versa.

pub(crate) mod check;
mod events;
mod orders;
mod products;
mod sessions;
mod users;

use serde::Serialize;
use utoipa::ToSchema;

use crate::AppError;
use crate::problems::FieldError;

pub(crate) use events::{EventBody, EventPage};
pub(crate) use orders::{OrderBody, OrderPage, PlaceOrderRequest};
pub(crate) use products::{
    AdjustStockRequest, AdjustedBody, CreateProductRequest, ProductBody, ProductPage, StockBody,
    UpdateProductRequest,
};
pub(crate) use sessions::{SessionBody, SignInRequest};
pub(crate) use users::{RenameUserRequest, SignUpRequest, UserBody, UserEventBody, UserPage};

/// What a health probe answers while it passes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthBody {
    /// `live` or `ready`.
    #[schema(example = "ready")]
    pub(crate) status: &'static str,
}

/// Gathers the validation failures of independent parses, so that a request with several bad
/// fields hears about all of them in one 422.
#[derive(Default)]
pub(crate) struct Fields {
    errors: Vec<FieldError>,
    fatal: Option<AppError>,
}

impl Fields {
    /// Records why `result` failed, if it did.
    pub(crate) fn record<T, E: Into<AppError>>(&mut self, result: Result<T, E>) {
        self.record_at(result, |field| field);
    }

    /// Like [`Fields::record`], renaming the failed field (a line's `sku` to `items[2].sku`).
    pub(crate) fn record_at<T, E: Into<AppError>>(
        &mut self,
        result: Result<T, E>,
        rename: impl Fn(String) -> String,
    ) {
        let Err(err) = result else { return };
        match err.into().into_field_errors() {
            Ok(errors) => {
                for mut error in errors {
                    error.field = rename(error.field);
                    // Two checks of one rule (ours and the domain's) report it once.
                    if !self.errors.contains(&error) {
                        self.errors.push(error);
                    }
                }
            }
            // Not about a field (no parser fails so today): the first one wins.
            Err(other) => {
                self.fatal.get_or_insert(other);
            }
        }
    }

    /// `Ok` when nothing failed; else the failure.
    pub(crate) fn finish(self) -> Result<(), AppError> {
        if self.fatal.is_none() && self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    /// Every recorded field as one 422 (or the failure that was not about a field).
    pub(crate) fn into_error(self) -> AppError {
        self.fatal.unwrap_or(AppError::Validation(self.errors))
    }
}
