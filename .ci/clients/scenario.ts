// The TypeScript client's scenario, run by `.ci/clients` against the running service.
//
// Its types come from `schema.d.ts`, which openapi-typescript generated from `openapi.json`;
// the calls go through openapi-fetch. An admin stocks a product, then a customer signs up,
// signs in, places an order, reads it, pays it, and reads back a typed problem, with its
// `code`, for a 404, a 409 and a 422. `tsc --strict` checks it before Node runs it; any
// surprise throws, which exits non-zero.
//
// Usage: node scenario.js BASE_URL ADMIN_EMAIL PASSWORD RUN_ID

import { randomUUID } from "node:crypto";
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

function argument(index: number): string {
  const value = process.argv[2 + index];
  if (value === undefined) {
    throw new Error("usage: scenario.js BASE_URL ADMIN_EMAIL PASSWORD RUN_ID");
  }
  return value;
}
const [base, adminEmail, password, runId] = [0, 1, 2, 3].map(argument) as [
  string,
  string,
  string,
  string,
];

function check(condition: boolean, message: string): asserts condition {
  if (!condition) {
    throw new Error(message);
  }
}

/** The body of a response, after checking its status. */
function expect<T>(result: { data?: T; response: Response }, status: number): T {
  check(
    result.response.status === status && result.data !== undefined,
    `expected ${status}, got ${result.response.status}`,
  );
  return result.data;
}

const anonymous = createClient<paths>({ baseUrl: base });

async function signIn(email: string): Promise<string> {
  const session = expect(
    await anonymous.POST("/v1/sessions", { body: { email, password } }),
    201,
  );
  check(session.token_type === "Bearer", `token_type ${session.token_type}`);
  return session.token;
}

function as(token: string) {
  return createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${token}` } });
}

const admin = as(await signIn(adminEmail));
const sku = `TS-${runId}`;
expect(
  await admin.POST("/v1/products", {
    body: { sku, name: "TypeScript mug", prices: [{ currency: "EUR", unit_price_cents: 1250 }] },
  }),
  201,
);
expect(
  await admin.POST("/v1/products/{sku}/stock/adjustments", {
    params: { path: { sku } },
    body: { delta: 10, reason: "delivery" },
  }),
  201,
);

const email = `ts-${runId}@example.com`;
const newUser = { email, display_name: "Type Script", password };
const user = expect(await anonymous.POST("/v1/users", { body: newUser }), 201);
const customer = as(await signIn(email));

const order = expect(
  await customer.POST("/v1/orders", {
    params: { header: { "Idempotency-Key": randomUUID() } },
    body: { currency: "EUR", items: [{ sku, quantity: 2 }] },
  }),
  201,
);
check(order.user_id === user.id, `order of ${order.user_id}`);
check(order.total_cents === 2500, `total ${order.total_cents}`);
const read = expect(
  await customer.GET("/v1/orders/{id}", { params: { path: { id: order.id } } }),
  200,
);
check(read.id === order.id && read.status === "pending", `read ${read.status}`);
const paid = expect(
  await customer.POST("/v1/orders/{id}/pay", { params: { path: { id: order.id } } }),
  200,
);
check(paid.status === "paid", `paid ${paid.status}`);

// The problems: `error` is typed by the document, `code` a union of the codes it lists.
const missing = await customer.GET("/v1/orders/{id}", {
  params: { path: { id: randomUUID() } },
});
check(missing.response.status === 404, `missing ${missing.response.status}`);
const missingCode: string | undefined = missing.error?.code;
check(missingCode === "order_not_found", `missing ${missingCode}`);

const again = await customer.POST("/v1/orders/{id}/pay", {
  params: { path: { id: order.id } },
});
check(again.response.status === 409, `again ${again.response.status}`);
check(again.error?.code === "illegal_transition", `again ${again.error?.code}`);

const taken = await anonymous.POST("/v1/users", { body: newUser });
check(taken.response.status === 409, `taken ${taken.response.status}`);
check(taken.error?.code === "email_taken", `taken ${taken.error?.code}`);

const invalid = await anonymous.POST("/v1/users", {
  body: { email: `short-${email}`, display_name: "TS", password: "short" },
});
check(invalid.response.status === 422, `invalid ${invalid.response.status}`);
check(invalid.error?.code === "validation_failed", `invalid ${invalid.error?.code}`);
const fields = (invalid.error?.errors ?? []).map((e) => e.field);
check(fields.join() === "password", `invalid fields ${fields.join()}`);

console.log("typescript client scenario: ok");
