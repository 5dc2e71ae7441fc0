"""The OpenAPI schema documents each operation's errors, in the one error shape, with the
codes the services answer."""

from typing import Any
from uuid import UUID, uuid4

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.cart.factories import make_product

pytestmark = pytest.mark.django_db

CHECKOUT = ("/api/v1/carts/{cart_id}/checkout", "post")
BODY = {"email": "ann@example.com", "payment_token": "tok_ok"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def documented(
    schema: dict[str, Any], path: str, method: str, status: int
) -> set[tuple[str | None, str]]:
    """The (attr, code) pairs the operation documents for ``status``; attr is None where the
    schema leaves it open (null, or what the error is about)."""
    response = schema["paths"][path][method]["responses"][str(status)]
    body = resolve(schema, response["content"]["application/json"]["schema"])
    pairs: set[tuple[str | None, str]] = set()
    for shape in [resolve(schema, one) for one in body.get("oneOf", [body])]:
        items = resolve(schema, shape["properties"]["errors"]["items"])
        for error in [resolve(schema, one) for one in items.get("oneOf", [items])]:
            attrs = resolve(schema, error["properties"]["attr"]).get("enum", [None])
            codes = resolve(schema, error["properties"]["code"]).get("enum", ["*"])
            pairs |= {(attr, code) for attr in attrs for code in codes}
    return pairs


def codes(schema: dict[str, Any], path: str, method: str, status: int) -> set[str]:
    return {code for _, code in documented(schema, path, method, status)}


def operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "put", "delete")
    ]


def test_checkout_documents_every_conflict_and_a_bad_key(schema: dict[str, Any]) -> None:
    assert codes(schema, *CHECKOUT, 409) == {
        "cart_not_open",
        "cart_empty",
        "product_unavailable",
        "out_of_stock",
        "order_too_large",
        "checkout_interrupted",
        "idempotency_key_reused",
    }
    assert codes(schema, *CHECKOUT, 400) >= {"parse_error", "invalid_idempotency_key", "invalid"}
    assert codes(schema, *CHECKOUT, 404) == {"not_found"}
    # Only a checkout totals the order: adding to a cart cannot make one too large.
    assert codes(schema, "/api/v1/carts/{cart_id}/items", "post", 409) == {
        "cart_not_open",
        "cart_full",
        "product_unavailable",
        "out_of_stock",
        "idempotency_key_reused",
    }
    examples = schema["paths"][CHECKOUT[0]]["post"]["responses"]["409"]["content"]
    assert {e["summary"] for e in examples["application/json"]["examples"].values()} == codes(
        schema, *CHECKOUT, 409
    )


def test_every_operation_documents_the_database_being_unavailable(
    schema: dict[str, Any],
) -> None:
    for path, method in operations(schema):
        responses = schema["paths"][path][method]["responses"]
        if path == "/api/v1/health":
            continue  # its 503 is the health report (below)
        assert "service_unavailable" in codes(schema, path, method, 503), (path, method)
        assert "Retry-After" in responses["503"]["headers"], (path, method)
        if method in ("post", "patch"):
            assert codes(schema, path, method, 413) == {"request_too_large"}, (path, method)
        else:
            assert "413" not in responses, (path, method)
            assert "415" not in responses, (path, method)


def test_the_health_check_documents_its_own_503(schema: dict[str, Any]) -> None:
    unhealthy = schema["paths"]["/api/v1/health"]["get"]["responses"]["503"]
    body = resolve(schema, unhealthy["content"]["application/json"]["schema"])

    assert set(body["properties"]) == {"status", "database", "bus", "tasks"}
    assert "headers" not in unhealthy


def test_the_refund_documents_its_refusals_and_the_gateway_not_answering(
    schema: dict[str, Any],
) -> None:
    refund = ("/api/v1/payments/{payment_id}/refund", "post")

    assert codes(schema, *refund, 409) == {
        "payment_not_refundable",
        "refund_declined",
        "idempotency_key_reused",
    }
    assert codes(schema, *refund, 503) == {"service_unavailable", "gateway_unavailable"}
    assert codes(schema, "/api/v1/payments/webhook", "post", 400) >= {
        "invalid_signature",
        "invalid_webhook",
    }


def test_each_code_of_an_error_has_its_own_example(schema: dict[str, Any]) -> None:
    content = schema["paths"]["/api/v1/payments/webhook"]["post"]["responses"]["400"]["content"]
    details = {
        e["summary"]: e["value"]["errors"][0]["detail"]
        for e in content["application/json"]["examples"].values()
    }

    assert details["invalid_signature"].startswith("The signature is missing")
    assert details["invalid_webhook"] == "The webhook body is not a valid event."


def test_an_operation_without_domain_errors_documents_no_409(schema: dict[str, Any]) -> None:
    assert "409" not in schema["paths"]["/api/v1/carts/"]["post"]["responses"]
    assert "409" not in schema["paths"]["/api/v1/products/"]["get"]["responses"]


def test_a_list_documents_its_query_parameters_as_the_400s_attrs(schema: dict[str, Any]) -> None:
    attrs = {attr for attr, _ in documented(schema, "/api/v1/products/", "get", 400)}

    assert attrs >= {"page_size", "min_price", "max_price", "category"}
    assert "page" not in attrs  # a page that is not one is 404
    assert "400" not in schema["paths"]["/api/v1/carts/{cart_id}/"]["get"]["responses"]


def answered(response: Any) -> set[tuple[str | None, str]]:
    return {(error["attr"], error["code"]) for error in response.json()["errors"]}


def assert_documented(
    schema: dict[str, Any], path: str, method: str, response: Any, status: int
) -> None:
    assert response.status_code == status, response.content
    pairs = documented(schema, path, method, status)
    for attr, code in answered(response):
        assert (attr, code) in pairs or (None, code) in pairs, (attr, code, sorted(pairs, key=str))


def test_what_the_api_answers_is_what_the_schema_documents(
    schema: dict[str, Any], api: APIClient, staff_api: APIClient
) -> None:
    created = api.post("/api/v1/carts/").json()
    shopper = APIClient()
    shopper.credentials(HTTP_X_CART_TOKEN=created["token"])
    cart = f"/api/v1/carts/{created['id']}"
    product = make_product(stock=1)

    answers = [
        # (path, method, status, the request)
        (*CHECKOUT, 409, lambda: shopper.post(f"{cart}/checkout", BODY, format="json")),
        (
            *CHECKOUT,
            400,
            lambda: shopper.post(
                f"{cart}/checkout", BODY, format="json", HTTP_IDEMPOTENCY_KEY=" x"
            ),
        ),
        (
            "/api/v1/carts/{cart_id}/items",
            "post",
            400,
            lambda: shopper.post(
                f"{cart}/items", {"product_id": str(product.id), "quantity": 0}, format="json"
            ),
        ),
        (
            "/api/v1/carts/{cart_id}/items",
            "post",
            409,
            lambda: shopper.post(
                f"{cart}/items", {"product_id": str(product.id), "quantity": 2}, format="json"
            ),
        ),
        (
            "/api/v1/carts/{cart_id}/items",
            "post",
            404,
            lambda: shopper.post(
                f"{cart}/items", {"product_id": str(uuid4()), "quantity": 1}, format="json"
            ),
        ),
        (
            "/api/v1/auth/token",
            "post",
            400,
            lambda: api.post(
                "/api/v1/auth/token", {"email": "no@example.com", "password": "x"}, format="json"
            ),
        ),
        (
            "/api/v1/payments/webhook",
            "post",
            400,
            lambda: api.post("/api/v1/payments/webhook", {}, format="json"),
        ),
    ]
    for path, method, status, request in answers:
        assert_documented(schema, path, method, request(), status)

    duplicate = {"sku": product.sku, "name": "Again", "price": "1.00"}
    response = staff_api.post("/api/v1/products/", duplicate, format="json")
    assert_documented(schema, "/api/v1/products/", "post", response, 400)
    assert answered(response) == {("sku", "duplicate_sku")}

    product_url = f"/api/v1/products/{product.id}/"
    staff_answers = [
        ("/api/v1/products/", "post", {**duplicate, "sku": "NEW-1", "colour": "red"}),
        ("/api/v1/products/{product_id}/discontinue", "post", {"reason": "old"}),
        ("/api/v1/products/{product_id}/", "patch", {"sku": "OTHER"}),
        ("/api/v1/auth/register", "post", {"email": "new@example.com", "password": "short"}),
    ]
    for path, method, body in staff_answers:
        url = path.replace("{product_id}", str(product.id))
        response = getattr(staff_api, method)(url, body, format="json")
        assert_documented(schema, path, method, response, 400)
    assert staff_api.get(product_url).json()["sku"] == product.sku


def test_an_example_names_what_its_error_is_about(schema: dict[str, Any]) -> None:
    # out_of_stock names the product that ran out, in attr, on adding and at checkout.
    for path, method in (CHECKOUT, ("/api/v1/carts/{cart_id}/items", "post")):
        content = schema["paths"][path][method]["responses"]["409"]["content"]
        examples = {
            e["summary"]: e["value"] for e in content["application/json"]["examples"].values()
        }
        [out_of_stock] = examples["out_of_stock"]["errors"]
        assert UUID(out_of_stock["attr"])
        assert examples["cart_not_open"]["errors"][0]["attr"] is None
