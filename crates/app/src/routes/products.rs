//! `/v1/products`: the catalog (anyone may read what is on sale; admins manage it) and each
//! product's stock (admins only).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use catalog::Sku;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::respond::{created, json, with_etag};
use crate::auth::{Caller, MaybeCaller};
use crate::extract::{Json, ListParams, Path};
use crate::headers::{IfMatch, optional_version, required_version};
use crate::state::AppState;
use crate::wire::{
    AdjustStockRequest, AdjustedBody, CreateProductRequest, ProductBody, ProductPage, StockBody,
    UpdateProductRequest,
};
use crate::workflows::ProductView;
use crate::{AppError, problems};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(fetch, update))
        .routes(routes!(archive))
        .routes(routes!(stock))
        .routes(routes!(adjust))
}

/// The list that cursors of the catalog are bound to: admins page through archived products
/// too, so their cursors are their own.
fn list_name(with_archived: bool) -> &'static str {
    if with_archived {
        "products:all"
    } else {
        "products"
    }
}

/// A path segment as a sku; one that could never be a sku names no product.
fn sku_of(raw: &str) -> Result<Sku, AppError> {
    Sku::parse(raw).map_err(|_| {
        AppError::request(
            problems::PRODUCT_NOT_FOUND,
            "No product has this sku: skus are 1 to 64 of [A-Za-z0-9._-].",
        )
    })
}

fn product_response(status: StatusCode, view: ProductView) -> Response {
    let body = ProductBody::new(view.product, view.available);
    with_etag(status, body.version, &body)
}

/// Creates a product (admins only); it starts with nothing on hand.
#[utoipa::path(post, path = "/v1/products", tag = "catalog", operation_id = "create_product",
    request_body = CreateProductRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new product (`available` 0).", body = ProductBody, headers(
            ("Location" = String, description = "The product's path"),
            ("ETag" = String, description = "The product's version, quoted")),
            links(
                ("GetProduct" = (operation_id = "get_product", parameters(("sku" = "$response.body#/sku")))),
                ("GetStock" = (operation_id = "get_stock", parameters(("sku" = "$response.body#/sku")))),
                ("AdjustStock" = (operation_id = "adjust_stock", parameters(("sku" = "$response.body#/sku")))),
            )),
        (status = 403, description = "forbidden"),
        (status = 409, description = "sku_taken"),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateProductRequest>,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let view = state.workflows.create_product(body.parse()?).await?;
    let body = ProductBody::new(view.product, view.available);
    Ok(created(body.location(), body.version, &body))
}

/// Products in sku order: those on sale for everyone, archived ones too for admins. No token
/// needed.
#[utoipa::path(get, path = "/v1/products", tag = "catalog", operation_id = "list_products",
    params(ListParams),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "A page of products.", body = ProductPage),
        (status = 400, description = "bad_request"),
        (status = 422, description = "invalid_limit invalid_cursor"),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: MaybeCaller,
    params: ListParams,
) -> Result<Response, AppError> {
    let with_archived = caller.is_admin();
    let list = list_name(with_archived);
    let (limit, after) = params.text_page(&state.cursors, list)?;
    let after = after.map(|raw| sku_of(&raw)).transpose()?;
    let (items, next) = state
        .workflows
        .products(after.as_ref(), limit, with_archived)
        .await?;
    let items = items
        .into_iter()
        .map(|view| ProductBody::new(view.product, view.available))
        .collect();
    let next = next.map(|sku| state.cursors.seal_text(sku.as_str(), list));
    Ok(json(&ProductPage { items, next }))
}

/// One product (an archived one only for admins). No token needed.
#[utoipa::path(get, path = "/v1/products/{sku}", tag = "catalog", operation_id = "get_product",
    params(("sku" = String, Path, description = "The product's sku", example = "BOOK-1")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The product.", body = ProductBody, headers(
            ("ETag" = String, description = "The product's version, quoted"))),
        (status = 404, description = "product_not_found"),
    ))]
async fn fetch(
    State(state): State<AppState>,
    caller: MaybeCaller,
    Path(sku): Path<String>,
) -> Result<Response, AppError> {
    let sku = sku_of(&sku)?;
    let view = state.workflows.product(&sku, caller.is_admin()).await?;
    Ok(product_response(StatusCode::OK, view))
}

/// Changes a product's name, description or prices (admins only); `If-Match` is required.
/// Orders already placed keep the prices they were placed at.
#[utoipa::path(patch, path = "/v1/products/{sku}", tag = "catalog", operation_id = "update_product",
    params(
        ("sku" = String, Path, description = "The product's sku", example = "BOOK-1"),
        ("If-Match" = String, Header, description = "The ETag of the version being changed, a list of ETags, or `*`. Compared strongly: `W/` tags never match.", example = "\"1\""),
    ),
    request_body = UpdateProductRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed product.", body = ProductBody, headers(
            ("ETag" = String, description = "The new version, quoted"))),
        (status = 403, description = "forbidden"),
        (status = 404, description = "product_not_found"),
        (status = 412, description = "version_conflict"),
        (status = 428, description = "precondition_required"),
    ))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(sku): Path<String>,
    headers: HeaderMap,
    Json(body): Json<UpdateProductRequest>,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let sku = sku_of(&sku)?;
    let changes = body.parse()?;
    let current = async { Ok(state.catalog.get(&sku, true).await?.version) };
    let expected = required_version(IfMatch::from_headers(&headers), current).await?;
    let product = state.catalog.update(&sku, expected, changes).await?;
    let view = state.workflows.product_view(product).await?;
    Ok(product_response(StatusCode::OK, view))
}

/// Archives a product (admins only): it leaves the lists and new orders refuse it. Archiving
/// an archived product changes nothing.
#[utoipa::path(post, path = "/v1/products/{sku}/archive", tag = "catalog", operation_id = "archive_product",
    params(("sku" = String, Path, description = "The product's sku", example = "BOOK-1")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The archived product.", body = ProductBody, headers(
            ("ETag" = String, description = "The product's version, quoted"))),
        (status = 403, description = "forbidden"),
        (status = 404, description = "product_not_found"),
    ))]
async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    Path(sku): Path<String>,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let product = state.catalog.archive(&sku_of(&sku)?).await?;
    let view = state.workflows.product_view(product).await?;
    Ok(product_response(StatusCode::OK, view))
}

/// A product's stock (admins only).
#[utoipa::path(get, path = "/v1/products/{sku}/stock", tag = "inventory", operation_id = "get_stock",
    params(("sku" = String, Path, description = "The product's sku", example = "BOOK-1")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stock.", body = StockBody, headers(
            ("ETag" = String, description = "The stock's version, quoted"))),
        (status = 403, description = "forbidden"),
        (status = 404, description = "product_not_found"),
    ))]
async fn stock(
    State(state): State<AppState>,
    caller: Caller,
    Path(sku): Path<String>,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let sku = stock_sku(&sku)?;
    let body = StockBody::from(state.inventory.get(&sku).await?);
    Ok(with_etag(StatusCode::OK, body.version, &body))
}

/// Changes a product's units on hand (admins only): a ledger row with the delta and reason.
/// On hand never drops below what is reserved, nor below zero.
#[utoipa::path(post, path = "/v1/products/{sku}/stock/adjustments", tag = "inventory", operation_id = "adjust_stock",
    params(
        ("sku" = String, Path, description = "The product's sku", example = "BOOK-1"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the stock is at this version: its ETag, a list of ETags, or `*`. Compared strongly: `W/` tags never match.", example = "\"1\""),
    ),
    request_body = AdjustStockRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The stock after the adjustment, and its ledger row.", body = AdjustedBody, headers(
            ("Location" = String, description = "The stock's path"),
            ("ETag" = String, description = "The stock's new version, quoted"))),
        (status = 403, description = "forbidden"),
        (status = 404, description = "product_not_found"),
        (status = 409, description = "insufficient_stock"),
        (status = 412, description = "version_conflict"),
    ))]
async fn adjust(
    State(state): State<AppState>,
    caller: Caller,
    Path(sku): Path<String>,
    headers: HeaderMap,
    Json(body): Json<AdjustStockRequest>,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let sku = stock_sku(&sku)?;
    let (delta, reason) = body.parse()?;
    let current = async { Ok(state.inventory.get(&sku).await?.version) };
    let expected = optional_version(IfMatch::from_headers(&headers), current).await?;
    let (stock, adjustment) = state
        .inventory
        .adjust(&sku, delta, reason, expected)
        .await?;
    let location = format!("/v1/products/{}/stock", stock.sku);
    let body = AdjustedBody::new(stock, adjustment);
    Ok(created(location, body.stock.version, &body))
}

/// A path segment as the inventory names a sku; one that could never be a sku has no stock.
fn stock_sku(raw: &str) -> Result<inventory::Sku, AppError> {
    let sku = sku_of(raw)?;
    Ok(inventory::Sku::parse(sku.as_str())?)
}
