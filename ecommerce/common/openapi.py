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
from dataclasses import dataclass, field
from typing import Any, TypeVar

from drf_spectacular.utils import Direction, OpenApiExample, PolymorphicProxySerializer
from drf_standardized_errors.openapi import AutoSchema as StandardizedErrorsSchema
from drf_standardized_errors.openapi_serializers import (
    ClientErrorEnum,
    ParseErrorCodeEnum,
    ServerErrorEnum,
    ValidationErrorEnum,
)
from drf_standardized_errors.openapi_utils import get_error_serializer
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
from ecommerce.common.pagination import PageNumberPagination
from ecommerce.common.parsers import UNKNOWN_FIELD, KnownFieldsOnly

F = TypeVar("F", bound=Callable[..., Any])

_DECLARED = "domain_errors"
# Components named so are left out of the enum naming (drf-standardized-errors' hook): each
# lists its own codes.
ERROR_COMPONENT_SUFFIX = package_settings.ERROR_COMPONENT_NAME_SUFFIX


FieldError = type[DomainError] | str


@dataclass(frozen=True)
class Declared:
    """What ``raises`` declared on a view method."""

    errors: tuple[type[DomainError], ...] = ()
    fields: Mapping[str, tuple[FieldError, ...]] = field(default_factory=dict)


def raises(
    *errors: type[DomainError], fields: Mapping[str, Iterable[FieldError]] | None = None
) -> Callable[[F], F]:
    """Declare, for the schema, the domain errors a view method can answer.

    ``errors`` are listed under their own statuses (``attr`` null, or what the error is
    about); ``fields`` are 400 validation errors of one input field each, as error classes or
    plain codes (Django's password validators'). The codes and example details come from the
    classes, so the schema says what the services raise.
    """

    def declare(view_method: F) -> F:
        earlier: Declared = getattr(view_method, _DECLARED, Declared())
        merged = {name: tuple(found) for name, found in earlier.fields.items()}
        for name, found in (fields or {}).items():
            merged[name] = (*merged.get(name, ()), *found)
        setattr(view_method, _DECLARED, Declared((*earlier.errors, *errors), merged))
        return view_method

    return declare


def details_of(error: FieldError) -> dict[str, str]:
    """The codes an error answers with, each with its detail: a class's ``codes`` (code to
    detail) if it chooses one per instance, else its ``code`` and ``default_detail``."""
    if isinstance(error, str):
        return {error: ""}
    return dict(getattr(error, "codes", {error.code: error.default_detail}))


class AutoSchema(StandardizedErrorsSchema):
    """drf-standardized-errors' schema, for views answering through the shop's error handler."""

    def _declared(self) -> Declared:
        view_method = getattr(self.view, self.method.lower(), None)
        declared: Declared = getattr(view_method, _DECLARED, Declared())
        return declared

    def _example_attrs(self) -> dict[str, str | None]:
        """The declared errors' codes, each with what its example's ``attr`` holds."""
        return {
            code: error.example_attr
            for error in self._declared().errors
            for code in details_of(error)
        }

    def _domain_codes_by_status(self) -> dict[str, dict[str, str]]:
        """The declared errors' codes, each with its detail, by status."""
        by_status: dict[str, dict[str, str]] = {}
        for error in self._declared().errors:
            codes = by_status.setdefault(str(error.status), {})
            for code, detail in details_of(error).items():
                codes.setdefault(code, detail)
        return by_status

    def _name(self, component: str) -> str:
        return f"{camelize(self.get_operation_id())}{component}"

    def _reads_a_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH")

    def _query_parameters(self) -> list[str]:
        """Those a bad value of is 400 (a page that is not one is 404)."""
        not_400 = PageNumberPagination.page_query_param
        parameters = self._get_parameters()
        return [p["name"] for p in parameters if p["in"] == "query" and p["name"] != not_400]

    def _refuses_unknown_fields(self) -> bool:
        """A body read by ``KnownFieldsOnly``, or none at all (``no_body``): a field it does not
        take is 400 ``unknown_field``."""
        request = self.get_request_serializer()
        if request is None:
            return True
        return _is_serializer(request, KnownFieldsOnly)

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
                    or self._refuses_unknown_fields()
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
        for name, errors in self._declared().fields.items():
            extra.setdefault(name, set()).update(code for e in errors for code in details_of(e))
        return extra

    def _get_error_response_serializer(self, status_code: str) -> Any:
        domain_codes = list(self._domain_codes_by_status().get(status_code, {}))
        if status_code == "400" and not self._reads_a_body():
            return self._query_error_response()
        if status_code == "400":
            return self._body_error_response(domain_codes)
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

    def _body_error_response(self, codes: list[str]) -> PolymorphicProxySerializer:
        """A 400 of a method with a body: validation errors of its fields (with
        ``unknown_field`` for a field it does not take), or a client error: a body that is not
        JSON (``parse_error``), or the method's own codes of no field
        (``invalid_idempotency_key``)."""
        shapes: dict[str, Any] = {}
        request = self.get_request_serializer()
        by_field = self._get_validation_error_codes_by_field(
            self._determine_fields_with_error_codes() if _is_serializer(request) else []
        )
        if by_field or self._refuses_unknown_fields():
            shapes[ValidationErrorEnum.VALIDATION_ERROR.value] = self._validation_error_response(
                by_field
            )
        client_codes = (
            [*ParseErrorCodeEnum.values] if self._should_add_parse_error_response() else []
        )
        if client_codes or codes:
            shapes[ClientErrorEnum.CLIENT_ERROR.value] = self._error_response(
                "400", ClientErrorEnum, [*client_codes, *codes], suffix="ClientError"
            )
        return PolymorphicProxySerializer(
            component_name=self._name("ErrorResponse400"),
            serializers=shapes,
            resource_type_field_name="type",
        )

    def _validation_error_response(
        self, by_field: dict[str, set[str]]
    ) -> type[serializers.Serializer]:
        operation = self.get_operation_id()
        errors = [get_error_serializer(operation, name, codes) for name, codes in by_field.items()]
        if self._refuses_unknown_fields():
            errors.append(
                _serializer(
                    self._name(f"UnknownField{ERROR_COMPONENT_SUFFIX}"),
                    code=serializers.ChoiceField(choices=[UNKNOWN_FIELD]),
                    detail=serializers.CharField(),
                    attr=serializers.CharField(
                        allow_null=True, help_text="The field sent that is not taken."
                    ),
                )
            )
        return _serializer(
            self._name("ValidationError"),
            type=serializers.ChoiceField(choices=ValidationErrorEnum.choices),
            # No discriminator: an unknown field's attr is whatever was sent.
            errors=PolymorphicProxySerializer(
                component_name=self._name("Error"),
                serializers=errors,
                resource_type_field_name=None,
                many=True,
            ),
        )

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
                        "When the database could not serve the request: seconds to wait "
                        f"before trying again ({DATABASE_RETRY_AFTER_SECONDS})."
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
        attrs = self._example_attrs()
        for status_code, codes in by_status.items():
            error_type = "server_error" if int(status_code) >= 500 else "client_error"
            examples.extend(
                OpenApiExample(
                    code,
                    value={
                        "type": error_type,
                        "errors": [{"code": code, "detail": detail, "attr": attrs.get(code)}],
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


def _is_serializer(request: Any, kind: type = serializers.Serializer) -> bool:
    """Whether an operation's request is a serializer (class or instance) of ``kind``."""
    return isinstance(request, kind) or (isinstance(request, type) and issubclass(request, kind))
