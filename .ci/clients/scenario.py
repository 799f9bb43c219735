"""The Python client's scenario, run by `.ci/clients` against the running service.

It uses only the client that openapi-python-client generated from `openapi.json` (package
`orders_client`, on PYTHONPATH): an admin stocks a product, then a customer signs up, signs in,
places an order, reads it, pays it, and reads back a typed problem, with its `code`, for a 404,
a 409 and a 422. Any surprise raises, which exits non-zero.

Usage: python scenario.py BASE_URL ADMIN_EMAIL PASSWORD RUN_ID
"""

import sys
import uuid
from http import HTTPStatus

from orders_client import AuthenticatedClient, Client
from orders_client.api.catalog import create_product
from orders_client.api.inventory import adjust_stock
from orders_client.api.orders import get_order, pay_order, place_order
from orders_client.api.sessions import sign_in
from orders_client.api.users import sign_up
from orders_client.models import (
    AdjustStockRequest,
    CreateProductRequest,
    GetOrderProblem404,
    OrderBody,
    OrderLineRequest,
    PlaceOrderRequest,
    PriceBody,
    ProblemEmailTaken,
    ProblemIllegalTransition,
    ProblemValidationFailed,
    ProductBody,
    SessionBody,
    SignInRequest,
    SignUpRequest,
    UserBody,
)


def expect(response, status, kind):
    """The response's parsed body, after checking its status and its generated type."""
    assert response.status_code == HTTPStatus(status), (
        f"expected {status}, got {response.status_code}: {response.content!r}"
    )
    assert isinstance(response.parsed, kind), (
        f"expected a {kind.__name__}, got {type(response.parsed).__name__}"
    )
    return response.parsed


def token(client, email, password):
    body = SignInRequest(email=email, password=password)
    session = expect(sign_in.sync_detailed(client=client, body=body), 201, SessionBody)
    return session.token


def main():
    base, admin_email, password, run_id = sys.argv[1:5]
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)

    admin = AuthenticatedClient(
        base_url=base, token=token(anonymous, admin_email, password)
    )
    sku = f"PY-{run_id}"
    product = CreateProductRequest(
        sku=sku,
        name="Python mug",
        prices=[PriceBody(currency="EUR", unit_price_cents=1250)],
    )
    expect(create_product.sync_detailed(client=admin, body=product), 201, ProductBody)
    stock = AdjustStockRequest(delta=10, reason="delivery")
    assert adjust_stock.sync_detailed(sku, client=admin, body=stock).status_code == 201

    email = f"py-{run_id}@example.com"
    new_user = SignUpRequest(email=email, display_name="Py Thon", password=password)
    user = expect(sign_up.sync_detailed(client=anonymous, body=new_user), 201, UserBody)
    customer = AuthenticatedClient(base_url=base, token=token(anonymous, email, password))

    order_request = PlaceOrderRequest(
        currency="EUR", items=[OrderLineRequest(sku=sku, quantity=2)]
    )
    placed = place_order.sync_detailed(
        client=customer, body=order_request, idempotency_key=str(uuid.uuid4())
    )
    order = expect(placed, 201, OrderBody)
    assert order.user_id == user.id
    assert order.total_cents == 2500, order.total_cents
    read = expect(get_order.sync_detailed(order.id, client=customer), 200, OrderBody)
    assert read.id == order.id and read.status.value == "pending", read
    paid = expect(pay_order.sync_detailed(order.id, client=customer), 200, OrderBody)
    assert paid.status.value == "paid", paid.status

    # The problems, each parsed into its generated type.
    missing = expect(
        get_order.sync_detailed(uuid.uuid4(), client=customer), 404, GetOrderProblem404
    )
    assert missing.code.value == "order_not_found", missing.code
    assert missing.status == 404
    again = expect(
        pay_order.sync_detailed(order.id, client=customer), 409, ProblemIllegalTransition
    )
    assert again.code.value == "illegal_transition", again.code
    taken = expect(sign_up.sync_detailed(client=anonymous, body=new_user), 409, ProblemEmailTaken)
    assert taken.code.value == "email_taken", taken.code
    short = SignUpRequest(email=f"short-{email}", display_name="Py", password="short")
    invalid = expect(
        sign_up.sync_detailed(client=anonymous, body=short), 422, ProblemValidationFailed
    )
    assert invalid.code.value == "validation_failed", invalid.code
    assert [e.field for e in invalid.errors] == ["password"], invalid.errors

    print("python client scenario: ok")


if __name__ == "__main__":
    main()
