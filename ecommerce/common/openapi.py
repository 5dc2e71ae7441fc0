"""The OpenAPI schema's error answers: every status an operation can give, in the one shape.

drf-standardized-errors documents the framework's errors (400, 401, 403, 404, 405, 415, 429)
from each view's serializers, permissions and parsers. This schema class adds what only the
shop knows:

- the domain errors a view method declares with :func:`raises`, each status with its codes
  (409 ``out_of_stock``, ``cart_empty`` ...), and 400 codes that belong to one field
  (``raises(fields={"sku": [DuplicateSku]})``);
- 503 ``service_unavailable`` on every operation (the database could not serve it; the answer
  carries ``Retry-After``), and 413 ``request_too_large`` on every operation that reads a body.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from drf_spectacular.utils import Direction, OpenApiExample
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsSchema
from drf_standardized_errors.openapi_serializers import (
    ClientErrorEnum,
    ParseErrorCodeEnum,
    ServerErrorEnum,
    ValidationErrorEnum,
)
from drf_standardized_errors.settings import package_settings
from inflection import camelize
from rest_framework import serializers

from ecommerce.common.errors import (
    DATABASE_RETRY_AFTER_SECONDS,
    DATABASE_UNAVAILABLE,
    REQUEST_TOO_LARGE,
    REQUEST_TOO_LARGE_DETAIL,
    DomainError,
    ServiceUnavailable,
    exception_handler,
)

F = TypeVar("F", bound=Callable[..., Any])

_DECLARED = "domain_errors"
# Components named so are left out of the enum naming (drf-standardized-errors' hook): each
# lists its own codes.
ERROR_COMPONENT_SUFFIX = package_settings.ERROR_COMPONENT_NAME_SUFFIX


def raises(
    *errors: type[DomainError], fields: Mapping[str, Iterable[type[DomainError]]] | None = None
) -> Callable[[F], F]:
    """Declare, for the schema, the domain errors a view method can answer.

    ``errors`` are listed under their own statuses (``attr`` null, or what the error is
    about); ``fields`` are 400 validation errors of one input field each. The codes and
    example details come from the classes, so the schema says what the services raise.
    """

    def declare(view_method: F) -> F:
        earlier_errors, earlier_fields = getattr(view_method, _DECLARED, ((), {}))
        merged = {name: list(found) for name, found in earlier_fields.items()}
        for name, found in (fields or {}).items():
            merged.setdefault(name, []).extend(found)
        setattr(view_method, _DECLARED, ((*earlier_errors, *errors), merged))
        return view_method

    return declare


def codes_of(error: type[DomainError]) -> tuple[str, ...]:
    """The codes an error class answers with: its ``codes`` if it chooses one per instance."""
    return tuple(getattr(error, "codes", (error.code,)))


class AutoSchema(StandardizedErrorsSchema):
    """drf-standardized-errors' schema, for views answering through the shop's error handler."""

    def _declared(self) -> tuple[tuple[type[DomainError], ...], dict[str, list[type[DomainError]]]]:
        view_method = getattr(self.view, self.method.lower(), None)
        return getattr(view_method, _DECLARED, ((), {}))

    def _domain_codes_by_status(self) -> dict[str, dict[str, str]]:
        """The declared errors' codes, each with its default detail, by status."""
        by_status: dict[str, dict[str, str]] = {}
        for error in self._declared()[0]:
            codes = by_status.setdefault(str(error.status), {})
            for code in codes_of(error):
                codes.setdefault(code, error.default_detail)
        return by_status

    def _name(self, component: str) -> str:
        return f"{camelize(self.get_operation_id())}{component}"

    def _reads_a_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH")

    def _query_parameters(self) -> list[str]:
        return [p["name"] for p in self._get_parameters() if p["in"] == "query"]

    def _get_allowed_error_status_codes(self) -> list[str]:
        allowed = super()._get_allowed_error_status_codes()
        extra = [*self._domain_codes_by_status(), "413", "503"]
        return [*allowed, *(code for code in extra if code not in allowed)]

    def _should_add_error_response(self, responses: dict[str, Any], status_code: str) -> bool:
        if status_code in responses or self.view.get_exception_handler() is not exception_handler:
            return False
        if status_code in self._domain_codes_by_status() or status_code == "503":
            return True
        framework_checks: dict[str, Callable[[], bool]] = {
            "400": lambda: (
                (
                    self._should_add_parse_error_response()
                    or self._should_add_validation_error_response()
                )
                if self._reads_a_body()
                else bool(self._query_parameters())
            ),
            "401": self._should_add_http401_error_response,
            "403": self._should_add_http403_error_response,
            "404": self._should_add_http404_error_response,
            "405": self._should_add_http405_error_response,
            "406": self._should_add_http406_error_response,
            "413": self._reads_a_body,
            "415": lambda: self._reads_a_body() and self._should_add_http415_error_response(),
            "429": self._should_add_http429_error_response,
            "500": self._should_add_http500_error_response,
        }
        check = framework_checks.get(status_code)
        return check() if check is not None else False

    def _get_extra_validation_errors(self) -> dict[str, set[str]]:
        extra = super()._get_extra_validation_errors()
        for name, errors in self._declared()[1].items():
            extra.setdefault(name, set()).update(code for e in errors for code in codes_of(e))
        return extra

    def _get_error_response_serializer(self, status_code: str) -> Any:
        domain_codes = list(self._domain_codes_by_status().get(status_code, {}))
        if status_code == "400" and not self._reads_a_body():
            return self._query_error_response()
        if status_code == "400":
            return self._with_client_error_codes(super()._get_http400_serializer(), domain_codes)
        if status_code == "413":
            return self._error_response(status_code, ClientErrorEnum, [REQUEST_TOO_LARGE])
        if status_code == "503":
            database = ServiceUnavailable.code
            codes = [database, *(code for code in domain_codes if code != database)]
            return self._error_response(status_code, ServerErrorEnum, codes)
        if status_code == "404" or not domain_codes:
            return super()._get_error_response_serializer(status_code)
        error_type = ServerErrorEnum if int(status_code) >= 500 else ClientErrorEnum
        return self._error_response(status_code, error_type, domain_codes)

    def _query_error_response(self) -> type[serializers.Serializer]:
        """A 400 of a method without a body: one of its query parameters is not valid."""
        error = _serializer(
            self._name(f"QueryParameter{ERROR_COMPONENT_SUFFIX}"),
            code=serializers.CharField(),
            detail=serializers.CharField(),
            attr=serializers.ChoiceField(choices=self._query_parameters()),
        )
        return _serializer(
            self._name("ErrorResponse400"),
            type=serializers.ChoiceField(choices=ValidationErrorEnum.choices),
            errors=error(many=True),
        )

    def _with_client_error_codes(self, serializer: Any, codes: list[str]) -> Any:
        """The framework's 400 (validation and parse errors) with the method's own 400 codes
        that belong to no field (``invalid_idempotency_key``) added to its client errors."""
        if not codes:
            return serializer
        client_error = self._error_response(
            "400", ClientErrorEnum, [*ParseErrorCodeEnum.values, *codes], suffix="ClientError"
        )
        serializer.serializers[ClientErrorEnum.CLIENT_ERROR.value] = client_error
        return serializer

    def _error_response(
        self, status_code: str, error_type: Any, codes: list[str], *, suffix: str = ""
    ) -> type[serializers.Serializer]:
        error = _serializer(
            self._name(f"{status_code}{suffix}{ERROR_COMPONENT_SUFFIX}"),
            code=serializers.ChoiceField(choices=codes),
            detail=serializers.CharField(),
            # null, or what the error is about (OutOfStock names the product)
            attr=serializers.CharField(allow_null=True),
        )
        return _serializer(
            self._name(f"ErrorResponse{status_code}{suffix}"),
            type=serializers.ChoiceField(choices=error_type.choices),
            errors=error(many=True),
        )

    def _get_response_bodies(self, direction: Direction = "response") -> Any:
        responses = super()._get_response_bodies(direction)
        ours = f"#/components/schemas/{self._name('ErrorResponse503')}"
        unavailable = responses.get("503", {}).get("content", {}).get("application/json", {})
        if direction == "response" and unavailable.get("schema", {}).get("$ref") == ours:
            responses["503"]["headers"] = {
                "Retry-After": {
                    "schema": {"type": "integer"},
                    "description": (
                        "With service_unavailable: seconds to wait before trying again "
                        f"({DATABASE_RETRY_AFTER_SECONDS})."
                    ),
                }
            }
        return responses

    def _get_error_response_examples(self) -> list[OpenApiExample]:
        examples = super()._get_error_response_examples()
        by_status = {
            "413": {REQUEST_TOO_LARGE: REQUEST_TOO_LARGE_DETAIL},
            "503": {ServiceUnavailable.code: DATABASE_UNAVAILABLE},
        }
        for status_code, codes in self._domain_codes_by_status().items():
            by_status.setdefault(status_code, {}).update(codes)
        for status_code, codes in by_status.items():
            error_type = "server_error" if int(status_code) >= 500 else "client_error"
            examples.extend(
                OpenApiExample(
                    code,
                    value={
                        "type": error_type,
                        "errors": [{"code": code, "detail": detail, "attr": None}],
                    },
                    response_only=True,
                    status_codes=[status_code],
                )
                for code, detail in codes.items()
            )
        return examples


_components: dict[str, type[serializers.Serializer]] = {}


def _serializer(name: str, **fields: serializers.Field) -> type[serializers.Serializer]:
    """A serializer class of these fields, named ``name`` in the schema: one class per name,
    as the schema generator asks for an operation's answers more than once."""
    if name not in _components:
        meta = type("Meta", (), {"ref_name": name})
        _components[name] = type(name, (serializers.Serializer,), {**fields, "Meta": meta})
    return _components[name]
